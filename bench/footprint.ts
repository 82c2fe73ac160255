// What a user installs and starts: the SDK packed (`npm pack`) and installed
// into an empty app, against the whole `punchline` package installed the same
// way in the same run (the baseline); and how fast and how heavy
// `punchline peer --help` starts, against a bare `node -e ''` in the same run.
//   npm run bench:footprint   (needs the npm registry for undici and typebox)
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { quantile } from '../lab/statistics.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(ROOT, 'bin', 'punchline.js')
const SERVER_PACKAGES = /fastify|prisma|sqlite|swagger|pino|prom-client/
const STARTS = 15

export interface InstallFootprint {
  tarballs: string[]
  packages: number
  megabytes: number
  seconds: number
  serverPackages: string[]
  nativeBuilds: string[]
}

export interface StartFootprint {
  medianMs: number
  maxRssMiB: number
  /** JavaScript files the process opened (strace), when strace is there. */
  filesOpened: number | null
}

function sh (command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function bytesUnder (dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) total += bytesUnder(full)
    else if (entry.isFile()) total += statSync(full).size
  }
  return total
}

/** Every installed package (a folder with a package.json under node_modules, scoped or nested). */
function packagesUnder (modules: string): string[] {
  const found: string[] = []
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue
      const full = path.join(dir, entry.name)
      if (entry.name.startsWith('@')) { visit(full); continue }
      found.push(path.relative(modules, full))
      const nested = path.join(full, 'node_modules')
      try { visit(nested) } catch {}
    }
  }
  visit(modules)
  return found
}

/** Packs (`npm pack` with `packArgs`) and installs the tarballs into an empty app. */
function install (label: string, packArgs: string[], log: (line: string) => void): InstallFootprint {
  const dir = mkdtempSync(path.join(tmpdir(), `punchline-footprint-${label}-`))
  try {
    const packed = path.join(dir, 'packed')
    mkdirSync(packed)
    sh('npm', ['pack', '--silent', '--pack-destination', packed, ...packArgs], ROOT)
    const tarballs = readdirSync(packed).map((name) => path.join(packed, name))
    const app = path.join(dir, 'app')
    mkdirSync(app)
    writeFileSync(path.join(app, 'package.json'), '{"name":"an-app","version":"1.0.0","private":true}\n')
    const started = performance.now()
    sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], app)
    const seconds = (performance.now() - started) / 1000
    const modules = path.join(app, 'node_modules')
    const packages = packagesUnder(modules)
    const nativeBuilds = packages.filter((name) => { try { return statSync(path.join(modules, name, 'build', 'Release')).isDirectory() } catch { return false } })
    const result = {
      tarballs: tarballs.map((tarball) => path.basename(tarball)),
      packages: packages.length,
      megabytes: Math.round(bytesUnder(modules) / 1e5) / 10,
      seconds: Math.round(seconds * 10) / 10,
      serverPackages: packages.filter((name) => SERVER_PACKAGES.test(name)),
      nativeBuilds
    }
    log(`${label}: ${result.packages} packages, ${result.megabytes} MB, ${result.seconds} s, native builds: ${nativeBuilds.join(', ') || 'none'}`)
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function start (args: string[]): StartFootprint {
  const times: number[] = []
  let maxRss = 0
  for (let run = 0; run < STARTS; run++) {
    const started = performance.now()
    const result = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { encoding: 'utf8' })
    times.push(performance.now() - started)
    maxRss = Math.max(maxRss, Number(result.stderr.trim().split('\n').at(-1)))
  }
  let filesOpened: number | null = null
  const traced = spawnSync('strace', ['-f', '-e', 'trace=openat', process.execPath, ...args], { encoding: 'utf8' })
  if (traced.error === undefined) {
    const opened = new Set([...traced.stderr.matchAll(/openat\([^"]*"([^"]+\.(?:js|mjs|cjs|node))"[^=]*= \d+/g)].map((match) => match[1]))
    filesOpened = opened.size
  }
  return { medianMs: Math.round(quantile(times.sort((a, b) => a - b), 0.5)), maxRssMiB: Math.round(maxRss / 1024), filesOpened }
}

export function measureFootprint (log: (line: string) => void): { sdk: InstallFootprint, whole: InstallFootprint, help: StartFootprint, bareNode: StartFootprint } {
  const workspaces = ['--workspace', 'protocol', '--workspace', 'sdk']
  const sdk = install('sdk', workspaces, log)
  const whole = install('punchline', ['--include-workspace-root', ...workspaces], log)
  const help = start([BIN, 'peer', '--help'])
  const bareNode = start(['-e', ''])
  log(`punchline peer --help: ${help.medianMs} ms median, ${help.maxRssMiB} MiB, ${help.filesOpened ?? '?'} JS files; bare node: ${bareNode.medianMs} ms, ${bareNode.maxRssMiB} MiB, ${bareNode.filesOpened ?? '?'} files`)
  return { sdk, whole, help, bareNode }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = measureFootprint((line) => { console.error(`footprint: ${line}`) })
  console.log(JSON.stringify(result, null, 2))
}
