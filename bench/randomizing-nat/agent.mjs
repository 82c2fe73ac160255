// The programs of bench/randomizing-nat.ts, run inside the laboratory's
// namespaces (plain Node on the built SDK's reuse-port sockets). Each mode
// prints JSON lines on stdout: {"ready": ...} when it is listening or set up,
// then its results. Usage: node agent.mjs MODE [ARGS...]
import net from 'node:net'
import { createInterface } from 'node:readline'
import { defaultPortSockets } from '../../sdk/dist/index.js'

const [mode, ...args] = process.argv.slice(2)
const print = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }
const sockets = defaultPortSockets()

/** One line of stdin at a time: the orchestrator's commands to a long-lived agent. */
function commands (handle) {
  createInterface({ input: process.stdin }).on('line', (line) => { void handle(JSON.parse(line)) })
}

/** A connect() that resolves with how it ended: 'connected' (and the socket), or an errno code, or 'timeout'. */
function outcome (socket, timeoutMs) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { resolve({ end: 'timeout', socket }) }, timeoutMs)
    socket.once('connect', () => { clearTimeout(timer); resolve({ end: 'connected', socket }) })
    socket.once('error', (error) => { clearTimeout(timer); resolve({ end: error.code ?? error.message, socket }) })
  })
}

switch (mode) {
  // Records the source port of every connection it accepts; prints them when asked.
  case 'observer': {
    const [host, port] = args
    const seen = []
    const server = net.createServer((socket) => {
      seen.push(socket.remotePort)
      socket.on('error', () => {})
      socket.resume()
      socket.write('.') // the port is recorded: the other side may reset now
    })
    server.listen(Number(port), host, () => print({ ready: true }))
    commands(() => { print({ ports: seen.splice(0) }) })
    break
  }

  // Opens `count` connections to host:port from ephemeral ports, `concurrent` at a time, each reset once the
  // observer has answered (it has recorded the port by then); prints the local ports used.
  case 'open': {
    const [host, port, count, concurrent] = args.map((value, index) => index === 0 ? value : Number(value))
    const local = []
    let next = 0
    const failures = {}
    const one = async () => {
      while (next < count) {
        next++
        const socket = net.connect({ host, port })
        const { end } = await outcome(socket, 5000)
        socket.on('error', () => {})
        if (end === 'connected') {
          local.push(socket.localPort)
          await new Promise((resolve) => { socket.once('data', resolve); socket.once('close', resolve) })
          socket.resetAndDestroy()
        } else {
          failures[end] = (failures[end] ?? 0) + 1
          socket.destroy()
        }
      }
    }
    await Promise.all(Array.from({ length: concurrent }, one))
    print({ local, failures })
    break
  }

  // Holds `count` sockets at once, each connecting from its own ephemeral port to host:port, until told to
  // close them (a randomizing side's many mappings towards one remote endpoint).
  case 'hold': {
    const [host, port, count] = [args[0], Number(args[1]), Number(args[2])]
    const held = Array.from({ length: count }, () => {
      const socket = net.connect({ host, port })
      const state = { socket, end: 'pending' }
      socket.on('connect', () => { state.end = 'connected' })
      socket.on('error', (error) => { state.end = error.code })
      return state
    })
    setTimeout(() => print({ ready: true, local: held.map(({ socket }) => socket.localPort) }), 200)
    commands(() => {
      print({ ends: held.map(({ end }) => end) })
      for (const { socket } of held) socket.destroy()
      process.exit(0)
    })
    break
  }

  // A punch port: listens on host:port (reuse-port), and on command dials {address, port, fromPort?, plain?}
  // from it (or from another port; plain: without SO_REUSEPORT) and says how each dial ended; accepted
  // connections are counted.
  case 'punch-port': {
    const [host, port] = [args[0], Number(args[1])]
    let accepted = 0
    await sockets.listen({ host, port }, (socket) => { accepted++; socket.on('error', () => {}) })
    print({ ready: true })
    commands(async ({ dials, timeoutMs }) => {
      const started = performance.now()
      const ends = await Promise.all(dials.map(async ({ address, port: remotePort, fromPort, plain }) => {
        if (!Number.isInteger(remotePort)) return { end: 'no port to dial' }
        const socket = plain === true
          ? net.connect({ host: address, port: remotePort, localPort: fromPort ?? port })
          : sockets.dial({ host, port: fromPort ?? port }, { address, port: remotePort })
        const { end } = await outcome(socket, timeoutMs)
        return { end, ms: Math.round(performance.now() - started), localPort: socket.localPort }
      }))
      print({ ends, accepted })
    })
    break
  }

  // Sprays `count` dials from one reuse-port punch port to distinct ports of `address`, `perSecond` at most
  // (0: as fast as it can), each socket dropped after `holdMs`; reports the rate reached and how dials ended.
  case 'spray': {
    const [host, port, address, count, perSecond, holdMs] = [args[0], Number(args[1]), args[2], Number(args[3]), Number(args[4]), Number(args[5])]
    const listener = await sockets.listen({ host, port }, (socket) => { socket.on('error', () => {}) })
    const ends = {}
    let open = 0
    let mostOpen = 0
    const pending = []
    const started = performance.now()
    for (let n = 0; n < count; n++) {
      if (perSecond > 0) {
        const due = started + (n * 1000) / perSecond
        const wait = due - performance.now()
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
      }
      const remotePort = 1024 + ((n * 7919) % 64512) // distinct for n < 64512
      const socket = sockets.dial({ host, port }, { address, port: remotePort })
      open++
      mostOpen = Math.max(mostOpen, open)
      pending.push(outcome(socket, holdMs).then(({ end }) => {
        ends[end] = (ends[end] ?? 0) + 1
        socket.on('error', () => {})
        socket.destroy()
        open--
      }))
    }
    const issuedMs = performance.now() - started
    await Promise.all(pending)
    listener.close()
    print({ count, issuedMs: Math.round(issuedMs), dialsPerSecond: Math.round(count / (issuedMs / 1000)), mostOpen, ends })
    break
  }

  default:
    print({ error: `unknown mode ${mode}` })
    process.exit(2)
}
