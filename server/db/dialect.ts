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

export type ColumnType = 'text' | 'integer' | 'timestamp'
type ColumnValue<T extends ColumnType> = T extends 'timestamp' ? Date : T extends 'integer' ? number : string

/** A row of the columns `C`: each value of its column's type, or null. */
export type JsonRow<C extends Record<string, ColumnType>> = { [K in keyof C]: ColumnValue<C[K]> | null }

const POSTGRES_TYPES: Record<ColumnType, string> = { text: 'text', integer: 'integer', timestamp: 'timestamp(3)' }

/**
 * Rows as a table (a subquery) made from one statement parameter, a JSON
 * array: Prisma's cost grows with every parameter of a statement (~1.7 µs
 * each, bench/optimizations.md), so a batch of rows as one JSON text costs
 * one. Timestamps travel as SQLite's integer milliseconds, or as UTC text that
 * PostgreSQL reads into timestamp(3) (its zone suffix ignored: stored in UTC).
 */
export function jsonRows<C extends Record<string, ColumnType>> (dialect: Dialect, columns: C, rows: Array<JsonRow<C>>): Prisma.Sql {
  const names = Object.keys(columns)
  const stored = (value: string | number | Date | null): string | number | null => value instanceof Date ? (dialect === 'sqlite' ? value.getTime() : value.toISOString()) : value
  const json = JSON.stringify(rows.map((row) => Object.fromEntries(names.map((name) => [name, stored(row[name]!)]))))
  if (dialect === 'sqlite') {
    return Prisma.sql`(SELECT ${Prisma.raw(names.map((name) => `value ->> '${name}' AS "${name}"`).join(', '))} FROM json_each(${json}))`
  }
  return Prisma.sql`(SELECT * FROM json_to_recordset(${json}::json) AS r(${Prisma.raw(names.map((name) => `"${name}" ${POSTGRES_TYPES[columns[name]!]}`).join(', '))}))`
}

/** `INSERT INTO "table" (columns) SELECT columns FROM jsonRows(...)`: many rows as one parameter. Append RETURNING as needed. */
export function insertJsonRows<C extends Record<string, ColumnType>> (dialect: Dialect, table: string, columns: C, rows: Array<JsonRow<C>>): Prisma.Sql {
  const names = Prisma.raw(Object.keys(columns).map((column) => `"${column}"`).join(', '))
  return Prisma.sql`INSERT INTO ${Prisma.raw(`"${table}"`)} (${names}) SELECT ${names} FROM ${jsonRows(dialect, columns, rows)} AS v`
}
