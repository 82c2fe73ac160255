// HTTP details of the rendezvous API beyond its schemas: the version prefix
// and the headers that carry credentials.

/** Every API route but /health lives under this prefix. */
export const API_PREFIX = '/v1'
/** Deployment-wide API key for registering, when the server requires one. */
export const API_KEY_HEADER = 'x-api-key'
/** A 429 or 503 says how long to wait before retrying, in seconds. */
export const RETRY_AFTER_HEADER = 'retry-after'
