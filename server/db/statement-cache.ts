// Prepared statements kept across queries on the SQLite adapter. Prisma's
// better-sqlite3 adapter prepares every query anew (SQLite parses and plans
// the SQL again, and better-sqlite3 makes and later collects a native
// statement): under load, 5-7% of the server's CPU (bench/optimizations.md).
// This keeps the most recently used statements by SQL text, as better-sqlite3
// recommends, and hands the adapter a fresh binding of one each time.
import type { Database, Statement } from 'better-sqlite3'
import type { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'

/** Distinct SQL texts kept: the server's queries, each in the sizes its batches (up to 256 writes) give it. */
export const STATEMENT_CACHE_SIZE = 512

type Factory = PrismaBetterSqlite3
type Adapter = Awaited<ReturnType<Factory['connect']>>

/** What the adapter does with a statement: `prepare(sql).run()`, or `prepare(sql).bind(args)` and then run, read or list columns. */
class Binding {
  constructor (readonly statement: Statement, readonly args: unknown[]) {}

  get reader (): boolean { return this.statement.reader }
  run (): ReturnType<Statement['run']> { return this.statement.run(...this.args) }
  columns (): ReturnType<Statement['columns']> { return this.statement.columns() }
  raw (): { all: () => unknown[] } { return { all: () => this.statement.raw(true).all(...this.args) as unknown[] } }
  bind (args: unknown[]): Binding { return new Binding(this.statement, args) }
}

/** `prepare` for `database` that reuses its statements, least recently used out first. */
function cachedPrepare (database: Database, size: number): (sql: string) => Binding {
  const prepare = database.prepare.bind(database)
  const statements = new Map<string, Statement>()
  return (sql) => {
    let statement = statements.get(sql)
    if (statement === undefined) {
      statement = prepare(sql)
      if (statements.size >= size) statements.delete(statements.keys().next().value!)
    } else {
      statements.delete(sql)
    }
    statements.set(sql, statement)
    return new Binding(statement, [])
  }
}

function withCache (adapter: Adapter, size: number): Adapter {
  const database = (adapter as unknown as { client?: Database }).client
  // The adapter's connection is not public API: a version that moved it fails here, at start, not on a query.
  if (typeof database?.prepare !== 'function' || typeof database.defaultSafeIntegers !== 'function') {
    throw new Error('@prisma/adapter-better-sqlite3 no longer exposes its connection as `client`: the statement cache cannot attach')
  }
  Object.defineProperty(database, 'prepare', { value: cachedPrepare(database, size) })
  return adapter
}

/** The adapter factory, its connections keeping their prepared statements. */
export function cachingStatements (factory: Factory, size = STATEMENT_CACHE_SIZE): Factory {
  return Object.assign(Object.create(factory) as Factory, {
    connect: async () => withCache(await factory.connect(), size),
    connectToShadowDb: async () => withCache(await factory.connectToShadowDb(), size)
  })
}
