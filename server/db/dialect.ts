// The few places where SQLite and PostgreSQL spell raw SQL differently:
// timestamps (SQLite: integer milliseconds, as the adapter stores them;
// PostgreSQL: timestamp(3) in UTC), the two-argument max/min, and typed
// parameters in VALUES lists.
import { Prisma } from '../generated/prisma/client.js'
import type { Dialect } from './database.js'

export function timestamp (dialect: Dialect, date: Date): Prisma.Sql {
  return dialect === 'sqlite' ? Prisma.sql`${date.getTime()}` : Prisma.sql`(${date.toISOString()}::timestamptz AT TIME ZONE 'UTC')`
}

export function greatest (dialect: Dialect, a: Prisma.Sql, b: Prisma.Sql): Prisma.Sql {
  return dialect === 'sqlite' ? Prisma.sql`MAX(${a}, ${b})` : Prisma.sql`GREATEST(${a}, ${b})`
}

export function least (dialect: Dialect, a: Prisma.Sql, b: Prisma.Sql): Prisma.Sql {
  return dialect === 'sqlite' ? Prisma.sql`MIN(${a}, ${b})` : Prisma.sql`LEAST(${a}, ${b})`
}

export function integer (dialect: Dialect, value: number): Prisma.Sql {
  return dialect === 'sqlite' ? Prisma.sql`${value}` : Prisma.sql`${value}::integer`
}

export function text (dialect: Dialect, value: string): Prisma.Sql {
  return dialect === 'sqlite' ? Prisma.sql`${value}` : Prisma.sql`${value}::text`
}
