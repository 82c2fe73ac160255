// An error shaped like one of Node's own socket errors (a `code` such as ETIMEDOUT),
// for failures the SDK decides itself, so they are classified with the system's.
export function socketError (code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code })
}
