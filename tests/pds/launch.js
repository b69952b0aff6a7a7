// Starts a PLC directory and the reference Bluesky PDS on 127.0.0.1 for publisher's tests.
// Usage: node launch.js PDS_PORT PLC_PORT DATA_DIR   -> prints one JSON "ready" line, stops on SIGTERM.
'use strict'
const { PDS, envToCfg, envToSecrets, readEnv } = require('@atproto/pds')
const { PlcServer, Database } = require('@did-plc/server')
const { Secp256k1Keypair } = require('@atproto/crypto')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

function loopbackOnly(app) {
  const listen = app.listen.bind(app)
  app.listen = (port) => listen(port, '127.0.0.1')
}

async function main() {
  const [pdsPort, plcPort, dataDir] = process.argv.slice(2)
  fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true })
  const plc = await PlcServer.create({ db: Database.mock(), port: Number(plcPort) })
  loopbackOnly(plc.app)
  await plc.start()

  const rotationKey = await Secp256k1Keypair.create({ exportable: true })
  Object.assign(process.env, {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: pdsPort,
    PDS_DATA_DIRECTORY: dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: path.join(dataDir, 'blobs'),
    PDS_JWT_SECRET: crypto.randomBytes(16).toString('hex'),
    PDS_ADMIN_PASSWORD: crypto.randomBytes(16).toString('hex'),
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: Buffer.from(await rotationKey.export()).toString('hex'),
    PDS_DID_PLC_URL: `http://localhost:${plcPort}`,
    PDS_INVITE_REQUIRED: 'false',
    PDS_DEV_MODE: 'true',
    PDS_CRAWLERS: '',
    LOG_ENABLED: 'false',
  })
  const env = readEnv()
  const pds = await PDS.create(envToCfg(env), envToSecrets(env))
  loopbackOnly(pds.app)
  await pds.start()
  console.log(JSON.stringify({ ready: true, url: `http://127.0.0.1:${pdsPort}`, plc: `http://127.0.0.1:${plcPort}` }))

  const stop = async () => {
    await pds.destroy()
    await plc.destroy()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
