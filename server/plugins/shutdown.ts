// Bounds how long closing the server can take. Held long-polls are released
// in preClose (rendezvous plugin) and in-flight requests get a grace period to
// finish, their answers closing their connections; connections still open
// after it (a client that connected and never sent a request keeps Node's
// server.close() waiting) are destroyed.
import fp from 'fastify-plugin'

export const SHUTDOWN_GRACE_MS = 5000

export default fp(async function shutdown (app) {
  let grace: NodeJS.Timeout | undefined
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
    grace = setTimeout(() => { app.server.closeAllConnections() }, SHUTDOWN_GRACE_MS)
    grace.unref()
  })
  // Requests that finish while closing end their connection too, instead of keeping it alive until the grace ends.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close')
  })
  app.addHook('onClose', async () => { clearTimeout(grace) })
}, { name: 'shutdown' })
