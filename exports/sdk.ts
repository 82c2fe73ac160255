// punchline/sdk: the SDK, re-exported from its own package (@punchline/sdk)
// so that imports written before the split keep working.
export * from '@punchline/sdk'
