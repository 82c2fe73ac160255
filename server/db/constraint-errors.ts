// Recognises constraint violations, whether a model query (P2002, P2003) or a
// raw statement (P2010, with the driver adapter's kind) ran into them.

interface PrismaError {
  code?: unknown
  meta?: { driverAdapterError?: { cause?: { kind?: unknown } } }
}

function violates (error: unknown, code: string, kind: string): boolean {
  const { code: actual, meta } = (error ?? {}) as PrismaError
  return actual === code || (actual === 'P2010' && meta?.driverAdapterError?.cause?.kind === kind)
}

export function isUniqueViolation (error: unknown): boolean {
  return violates(error, 'P2002', 'UniqueConstraintViolation')
}

export function isForeignKeyViolation (error: unknown): boolean {
  return violates(error, 'P2003', 'ForeignKeyConstraintViolation')
}
