// punchline/server: run the rendezvous server inside your own program.
// `startServer(resolveConfig({...}))` is what `punchline serve` does;
// `buildApp` gives the Fastify app without listening (for tests, or to add
// your own routes and hooks before listening; then `app.mappingPort.listen(host,
// port)` opens the mapping port too, which `startServer` does from --mapping-port).
export { buildApp, type AppOptions } from './app.js'
export { startServer, closeOnSignals } from './main.js'
export { resolveConfig, ConfigError, SETTINGS, type ServerConfig } from './settings.js'
export { errors, type ErrorBody, type PunchErrorCode } from './errors.js'
