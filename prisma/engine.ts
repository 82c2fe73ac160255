// Drives Prisma's schema engine (the WASM build from npm, since the native
// binary cannot be downloaded here) to compare the committed migrations with
// a schema, for SQLite (shadow database in memory) or PostgreSQL (shadow
// database on a running server). Development tooling only: used by
// `npm run migration:new` and by the drift tests; the server never loads it.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils'
import { readMigrations, MIGRATIONS_DIR, POSTGRES_MIGRATIONS_DIR } from '../server/db/migrate.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const SCHEMA_PATH = path.join(HERE, 'schema.prisma')
export const POSTGRES_SCHEMA_PATH = path.join(HERE, 'postgresql', 'schema.prisma')

declare global {
  // The engine's panic hook writes its message here.
  var PRISMA_WASM_PANIC_REGISTRY: { set_message: (message: string) => void } | undefined
}

let loaded: Promise<typeof engineBindings> | undefined

// @types/node types WebAssembly only as a namespace; this is the one call we need.
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { instantiate: (bytes: Uint8Array, imports: object) => Promise<{ instance: { exports: Record<string, unknown> } }> }
}

/** Node 20 cannot import .wasm as a module: instantiate it by hand, once. */
async function loadEngine (): Promise<typeof engineBindings> {
  loaded ??= (async () => {
    const require = createRequire(import.meta.url)
    const wasmPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm')
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), { './schema_engine_bg.js': engineBindings })
    engineBindings.__wbg_set_wasm(instance.exports as never)
    ;(instance.exports.__wbindgen_start as () => void)()
    globalThis.PRISMA_WASM_PANIC_REGISTRY = { set_message: (message) => { throw new Error(`schema engine panic: ${message}`) } }
    return engineBindings
  })()
  return await loaded
}

/**
 * The engine replays each migration file on a shadow database (:memory:) with
 * one executeRaw call, which better-sqlite3 refuses for multi-statement SQL;
 * a parameterless executeRaw is a script, so run it as one.
 */
function shadowScriptsFactory (): PrismaBetterSqlite3 {
  const factory = new PrismaBetterSqlite3({ url: ':memory:' })
  const connectToShadowDb = factory.connectToShadowDb.bind(factory)
  factory.connectToShadowDb = async () => {
    const shadow = await connectToShadowDb()
    const executeRaw = shadow.executeRaw.bind(shadow)
    shadow.executeRaw = async (query) => {
      if (query.args.length > 0) return await executeRaw(query)
      await shadow.executeScript(query.sql)
      return 0
    }
    return shadow
  }
  return factory
}

/** PostgreSQL's one-byte "char" type (catalog columns such as relkind), and text. */
const PG_CHAR_OID = 18
const PG_TEXT_OID = 25

/**
 * The engine describes a PostgreSQL schema by reading catalog columns of type
 * "char", which @prisma/adapter-pg 7.10 refuses (UnsupportedNativeDataType);
 * pg already hands them over as strings, so report them as text.
 */
function postgresFactory (url: string): PrismaPg {
  const factory = new PrismaPg(url)
  type Queryable = { performIO: (query: unknown) => Promise<{ fields: Array<{ dataTypeID: number }> }> }
  const patch = <A>(adapter: A): A => {
    const queryable = adapter as unknown as Queryable
    const performIO = queryable.performIO.bind(queryable)
    queryable.performIO = async (query) => {
      const result = await performIO(query)
      for (const field of result.fields) if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID
      return result
    }
    return adapter
  }
  const connect = factory.connect.bind(factory)
  const connectToShadowDb = factory.connectToShadowDb.bind(factory)
  factory.connect = async () => patch(await connect())
  factory.connectToShadowDb = async () => patch(await connectToShadowDb())
  return factory
}

/**
 * SQL that takes a database from the state the committed migrations build to
 * the state schema.prisma describes. Empty when they agree (no drift).
 * `postgresUrl`: replay on a shadow database of that PostgreSQL server
 * (for the PostgreSQL schema and migrations); SQLite in memory otherwise.
 */
export async function diffMigrationsToSchema (migrationsDir = MIGRATIONS_DIR, schemaPath = SCHEMA_PATH, postgresUrl?: string): Promise<string> {
  const bindings = await loadEngine()
  const schema = await readFile(schemaPath, 'utf8')
  const shadow: SqlMigrationAwareDriverAdapterFactory = postgresUrl === undefined ? shadowScriptsFactory() : postgresFactory(postgresUrl)
  const adapterFactory = bindMigrationAwareSqlAdapterFactory(shadow)
  const engine = await bindings.SchemaEngine.new({ datamodels: [[schemaPath, schema]] }, () => {}, adapterFactory)
  try {
    const lockfilePath = path.join(migrationsDir, 'migration_lock.toml')
    const result = await engine.diff({
      from: {
        tag: 'migrations',
        baseDir: migrationsDir,
        lockfile: { path: 'migration_lock.toml', content: await readFile(lockfilePath, 'utf8') },
        shadowDbInitScript: '',
        migrationDirectories: readMigrations(migrationsDir).map((migration) => ({
          path: migration.name,
          migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: migration.sql } }
        }))
      },
      to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schema }] },
      script: true,
      exitCode: true,
      filters: { externalTables: [], externalEnums: [] }
    })
    return result.exitCode === 0 ? '' : (result.stdout ?? '')
  } finally {
    engine.free()
  }
}

/** The PostgreSQL schema and migrations, for `diffMigrationsToSchema`. */
export const POSTGRES = { migrationsDir: POSTGRES_MIGRATIONS_DIR, schemaPath: POSTGRES_SCHEMA_PATH }
