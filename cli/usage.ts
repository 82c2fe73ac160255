// The usage text of every command, apart from the commands themselves:
// `punchline COMMAND --help` prints it without loading the command (the SDK
// for peer, expose and forward; the server for serve).
import { PACKAGE } from '../server/package-root.js'
import { SETTINGS, settingsUsage } from '../server/settings.js'

const PEER_OPTIONS_HELP = `  --server URL      rendezvous server, e.g. https://rendezvous.example:8443 (required)
  --ca FILE         CA certificate(s) (PEM) to trust for an https:// server, instead of the system's
  --id ID           peer id to register (default: one the server generates)
  --timeout S       seconds a punch may take (default 10)
  --keepalive S     TCP keepalive of idle connections, seconds (default 25; 0: off): keeps NAT
                    mappings alive, and ends a connection whose path died within S + 10 s
  --identity FILE   this peer's Ed25519 private key (PEM), created (mode 0600) when missing
                    (default: $XDG_CONFIG_HOME/punchline/identity.pem, else ~/.config/punchline/)
  --peer-key KEY    the key the target must prove ("punchline id" prints a host's key), or
                    ID=KEY[,ID=KEY...] to pin other peers; a server saying otherwise is refused
  --known-peers FILE
                    trust on first use: the first key a peer proves is recorded, a changed one
                    fails with PUNCH_ERR_PEER_KEY_CHANGED (default: known_peers next to the
                    identity; 'none': off)
  --no-encrypt      no TLS over the connection unless the other side asks (for an
                    application that brings its own TLS); encrypted by default
  --relay MODE      the server's relay, for NATs that cannot be punched: auto (default:
                    relayed when no direct connection came up after 3 s, or at once
                    when both NATs map every connection to a new port; a relayed tunnel
                    keeps trying to go direct), never (punch only), only (relay only)
  --port P          local punch port (default: any free port)
  --private LIST    private endpoints to report, ADDR:PORT,... (private addresses only;
                    default: this host's private IPv4 addresses; '' for none)
  --api-key KEY     for servers that require one to register (or PUNCHLINE_API_KEY)
  --no-report       do not report punch outcomes to the server (reported by default)
  --json            progress as one JSON object per line on stderr, for machines
  -h, --help        this help`

export const MAIN_USAGE = `punchline ${PACKAGE.version}: rendezvous server and SDK for TCP hole punching

Usage:
  punchline serve [options]         run the rendezvous server
  punchline peer [options]          netcat over a punched connection
  punchline expose [options]        make a local TCP service reachable by chosen peers
  punchline forward [options]       reach a service another peer exposes, on a local port
  punchline id [--identity FILE]    print this host's identity key (what others pin)
  punchline COMMAND --help          a command's options and examples
  punchline --help | --version

Exit codes: 0 success (or stopped by SIGINT/SIGTERM), 1 failure, 2 usage,
130 "punchline peer" interrupted.

Examples:
  punchline serve
  punchline peer --server http://127.0.0.1:8080 --id bob
  echo hello | punchline peer --server http://127.0.0.1:8080 --id alice --connect bob
  punchline expose --server http://127.0.0.1:8080 --id home --to 127.0.0.1:22 --allow laptop
  punchline forward --server http://127.0.0.1:8080 --id laptop --peer home --listen 127.0.0.1:2222
`

export const USAGE: Record<string, () => string> = {
  serve: () => `Usage: punchline serve [--host HOST] [--port PORT] [--db FILE] [options]

Runs the rendezvous server: the HTTP/JSON API under /v1, Swagger UI at /docs,
Prometheus metrics at /metrics. Peers must reach it directly (no HTTP reverse
proxy): it records the source address and port it observes. SIGINT/SIGTERM
close it gracefully (exit 0).

Options (each also read from its environment variable; flags win):
${settingsUsage()}
  -h, --help                  this help

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failure (e.g. the port is taken), 2 usage.

Examples:
  punchline serve
  punchline serve --host 127.0.0.1 --port 9000 --db /var/lib/punchline/punchline.db
  ${SETTINGS.apiKeys.env}=k1-0123456789abcdef punchline serve --rate-limit-per-address 600
`,
  peer: () => `Usage: punchline peer --server URL [--id ID] [--connect TARGET] [options]

Connects stdin/stdout to another peer over a direct, authenticated TCP
connection punched through both NATs (like netcat). Without --connect, waits
for one incoming connection.

  --connect TARGET  connect to peer TARGET
${PEER_OPTIONS_HELP}

End of stdin half-closes the sending direction; the command exits once both
directions have ended. Progress goes to stderr.

Exit codes: 0 the connection ended cleanly, 1 failure (punch, server,
connection), 2 usage, 130 interrupted.

Examples:
  punchline peer --server http://rendezvous.example:8080 --id bob
  echo hello | punchline peer --server http://rendezvous.example:8080 --id alice --connect bob
  punchline peer --server http://rendezvous.example:8080 --connect bob --json 2>events.jsonl
`,
  expose: () => `Usage: punchline expose --server URL --id ID --to ADDR:PORT --allow PEERS [options]

Makes a local TCP service reachable by chosen peers, with no open port: each
allowed peer that runs "punchline forward" gets a punched, authenticated
tunnel, and each of its clients a stream to a new connection to --to.
Introductions from other peers are declined before any punching.

  --to ADDR:PORT    the service to expose, e.g. 127.0.0.1:22
  --allow PEERS     peer ids that may connect, comma-separated (ID=KEY: that id, with that
                    key only), or '*' for any peer
${PEER_OPTIONS_HELP}

Runs until interrupted (SIGINT/SIGTERM), then deregisters and exits 0.
Exit codes: 0 stopped, 1 failure (e.g. the server refused the registration), 2 usage.

Examples:
  punchline expose --server http://rendezvous.example:8080 --id home --to 127.0.0.1:22 --allow laptop
  punchline expose --server http://rendezvous.example:8080 --id web --to 127.0.0.1:8000 --allow alice,bob --json
`,
  id: () => `Usage: punchline id [--identity FILE]

Prints the public key of this host's identity (raw Ed25519, base64url), creating
the identity file when there is none. Other peers pin it with --peer-key KEY or
--allow ID=KEY.

  --identity FILE   default: $XDG_CONFIG_HOME/punchline/identity.pem, else ~/.config/punchline/identity.pem
`,
  forward: () => `Usage: punchline forward --server URL --peer TARGET --listen ADDR:PORT [options]

Listens on --listen; each TCP client reaches the service that peer TARGET
exposes ("punchline expose"), through one punched, authenticated tunnel that
carries every client as its own stream (HTTP/2 CONNECT). The tunnel is
punched at start, so a wrong or unwilling peer fails at once; a tunnel that
goes down is punched again by the next client.

  --peer TARGET     id of the exposing peer
  --listen ADDR:PORT
                    where to accept clients, e.g. 127.0.0.1:2222 (port 0: any free port)
${PEER_OPTIONS_HELP}

Runs until interrupted (SIGINT/SIGTERM), then exits 0.
Exit codes: 0 stopped, 1 failure (the first punch failed: unknown peer, not
allowed, unreachable; or the server), 2 usage.

Examples:
  punchline forward --server http://rendezvous.example:8080 --id laptop --peer home --listen 127.0.0.1:2222
  ssh -p 2222 user@127.0.0.1
`
}
