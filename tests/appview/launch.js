// Starts the reference Bluesky AppView (@atproto/bsky, through @atproto/dev-env) with a PLC directory and a PDS
// linked to it, all on 127.0.0.1, indexing into the Postgres at DB_POSTGRES_URL, for publisher's results tests.
// Usage: DB_POSTGRES_URL=postgresql://... node launch.js -> prints one JSON "ready" line (pds, appview, plc, control
// URLs); POST {control}/settle answers once the AppView has indexed all the PDS has sequenced (504 if not in 10 s);
// stops on SIGTERM, SIGINT or the end of its standard input (the test session gone), then runs the command that
// PG_STOP_COMMAND holds (a JSON array) and removes PG_DIR, so a test session killed outright leaves no Postgres
// behind either.
'use strict'
process.env.LOG_ENABLED = 'false' // read when the atproto loggers load
process.noDeprecation = true

// Every server that listens on a bare port binds 127.0.0.1 only: nothing here is reachable from other machines.
const net = require('node:net')
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1')
  } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].host) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}

const http = require('node:http')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const { TestBsky, TestPds, TestPlc } = require('@atproto/dev-env')
const { mockNetworkUtilities } = require('@atproto/dev-env/dist/util')

const SETTLE_TIMEOUT_MS = 10000

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

const loopback = (url) => url.replace('//localhost:', '//127.0.0.1:')

// What dev-env's TestNetwork.processFullSubscription does: the PDS's background work done, then the AppView's
// firehose runner caught up with the PDS's last sequence number.
async function settle(pds, bsky) {
  await pds.processAll()
  const lastSeq = await pds.ctx.sequencer.curr()
  const start = Date.now()
  while (Date.now() - start < SETTLE_TIMEOUT_MS) {
    await bsky.sub.processAll()
    const cursor = await bsky.sub.runner.getCursor()
    if (!lastSeq || (cursor && cursor >= lastSeq)) return { seq: lastSeq, cursor }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`the AppView did not index up to sequence ${lastSeq} within ${SETTLE_TIMEOUT_MS} ms`)
}

function stopPostgres() {
  const command = process.env.PG_STOP_COMMAND ? JSON.parse(process.env.PG_STOP_COMMAND) : []
  if (command.length) spawnSync(command[0], command.slice(1), { stdio: 'ignore' })
  if (process.env.PG_DIR) fs.rmSync(process.env.PG_DIR, { recursive: true, force: true })
}

async function main() {
  const dbUrl = process.env.DB_POSTGRES_URL
  if (!dbUrl) throw new Error('DB_POSTGRES_URL is not set')
  const plc = await TestPlc.create({})
  const pdsPort = await freePort()
  const bsky = await TestBsky.create({
    plcUrl: plc.url,
    pdsPort,
    repoProvider: `ws://localhost:${pdsPort}`,
    dbPostgresUrl: dbUrl,
    dbPostgresSchema: 'appview',
    redisHost: 'unused', // the AppView's test config names Redis but this light network never uses it
  })
  const pds = await TestPds.create({
    port: pdsPort,
    didPlcUrl: plc.url,
    bskyAppViewUrl: bsky.url,
    bskyAppViewDid: bsky.ctx.cfg.serverDid,
  })
  mockNetworkUtilities(pds, bsky)

  const control = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/settle') {
      res.writeHead(404).end()
      return
    }
    settle(pds, bsky).then(
      (done) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(done)),
      (err) => res.writeHead(504, { 'content-type': 'text/plain' }).end(String(err && err.message)),
    )
  })
  await new Promise((resolve) => control.listen(0, resolve))

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    control.close()
    try {
      await bsky.close()
      await pds.close()
      await plc.close()
    } finally {
      stopPostgres()
    }
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()

  console.log(JSON.stringify({
    ready: true,
    pds: loopback(pds.url),
    appview: loopback(bsky.url),
    plc: loopback(plc.url),
    control: `http://127.0.0.1:${control.address().port}`,
  }))
}

main().catch((err) => {
  console.error(err)
  stopPostgres()
  process.exit(1)
})
