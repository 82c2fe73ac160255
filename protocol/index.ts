// @punchline/protocol: the contract between the rendezvous server and the
// SDK — the API's schemas (TypeBox: validation, serialization, OpenAPI and
// static types from one source), its limits, its headers and its error table.
// Owned by neither side; both import their values from here. The limits,
// headers and error table are also their own entry points
// (@punchline/protocol/limits, /http, /errors, /addresses, /identity), which load no schema library.
export * from './limits.js'
export * from './http.js'
export * from './errors.js'
export * from './addresses.js'
export * from './identity.js'
export { MAPPINGS, MAPPING_PAIRS, mappingPairOf } from './mapping.js'
export * from './schemas/common.js'
export * from './schemas/identity.js'
export * from './schemas/registration.js'
export * from './schemas/introduction.js'
export * from './schemas/punch-report.js'
export * from './schemas/health.js'
export * from './schemas/relay.js'
