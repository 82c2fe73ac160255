// What `--db` names: a PostgreSQL database by URL, a SQLite file otherwise;
// and how to log it without a password. Loads nothing of the database
// drivers, so that reading the settings stays cheap.

const POSTGRES_URL = /^postgres(ql)?:\/\//i

/** `--db` names PostgreSQL by URL; anything else is a SQLite file. */
export function isPostgresUrl (location: string): boolean {
  return POSTGRES_URL.test(location)
}

/** The location as it may be logged: a URL's password is masked. */
export function describeLocation (location: string): string {
  if (!isPostgresUrl(location)) return location
  try {
    const url = new URL(location)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return 'postgresql://(unparseable URL)'
  }
}
