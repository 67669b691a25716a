// Pushes with winston-loki (npm), which speaks protobuf + snappy to
// /loki/api/v1/push. Fails if the library fell back to JSON (no snappy).
'use strict'
const winston = require('winston')
const LokiTransport = require('winston-loki')

const [url, service, runId] = process.argv.slice(2)
let failed = false
const transport = new LokiTransport({
  host: url,
  labels: { service_name: service, client: 'winston-loki' },
  json: false,
  batching: true,
  interval: 0.2,
  onConnectionError: (err) => { console.error('push failed:', err && err.message); failed = true }
})
if (transport.batcher.contentType !== 'application/x-protobuf') {
  console.error('winston-loki did not select protobuf+snappy: ' + transport.batcher.contentType)
  process.exit(2)
}
const logger = winston.createLogger({ transports: [transport] })
logger.info(`winston protobuf line one ${runId}`)
logger.warn(`winston protobuf line two ${runId}`, { labels: { extra: 'yes' } })
setTimeout(async () => {
  await transport.flush()
  logger.close()
  setTimeout(() => process.exit(failed ? 1 : 0), 300)
}, 800)
