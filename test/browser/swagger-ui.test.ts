// Swagger UI in a real browser (Debian's Chromium, driven by playwright-core):
// register through the page, authorise with the returned token, introduce
// through the page, and read both answers off the page. A screenshot of the
// introduce operation with its live response is saved to
// test-artifacts/swagger-ui.png. Skipped, with the reason, where Chromium is
// not installed (.ci/run installs it).
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { PACKAGE_ROOT } from '../../server/package-root.js'
import { buildTestApp, listenOnLoopback, registerOverHttp } from '../helpers.js'

const CHROMIUM = process.env.PUNCHLINE_CHROMIUM ?? '/usr/bin/chromium'
const ARTIFACT = path.join(PACKAGE_ROOT, 'test-artifacts', 'swagger-ui.png')
const unavailable = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set PUNCHLINE_CHROMIUM)`
if (unavailable !== undefined) console.warn(`Swagger UI browser test skipped: ${unavailable}`)

describe.skipIf(unavailable !== undefined)('Swagger UI in headless Chromium', () => {
  let app: FastifyInstance
  let base: string
  let browser: BrowserContext
  let page: Page

  beforeAll(async () => {
    app = await buildTestApp()
    base = await listenOnLoopback(app)
    // A fresh, empty profile; no background traffic (this machine's network is closed).
    browser = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'punchline-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 2000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    page = browser.pages()[0] ?? await browser.newPage()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await app?.close()
  })

  /** Expands an operation, fills its JSON body, executes it, and returns its response status and body as shown on the page. */
  async function execute (operation: Locator, body: unknown): Promise<{ status: string, body: string, curl: string }> {
    if (!await operation.locator('.opblock-body').isVisible()) await operation.locator('.opblock-summary').first().click()
    // "Try it out" once; in try-out mode the same class marks Cancel and Reset instead.
    const tryItOut = operation.locator('button.try-out__btn').filter({ hasText: 'Try it out' })
    if (await tryItOut.count() > 0) await tryItOut.click()
    await operation.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2))
    await operation.locator('button.execute').click()
    const response = operation.locator('.live-responses-table .response').first()
    await response.waitFor({ timeout: 10_000 })
    return {
      status: (await response.locator('.response-col_status').textContent() ?? '').trim(),
      body: await response.locator('.response-col_description .microlight, .response-col_description pre').first().textContent() ?? '',
      curl: await operation.locator('.curl-command').textContent() ?? ''
    }
  }

  it('registers, authorises with the token, and introduces, all through the page', async () => {
    await page.goto(`${base}/docs`)
    await page.locator('#operations-peers-register').waitFor({ timeout: 20_000 })
    expect(await page.locator('.info .title').textContent()).toContain('punchline')

    // Register alice through the page.
    const registered = await execute(page.locator('#operations-peers-register'), { id: 'alice', privateEndpoints: [{ address: '192.168.1.20', port: 4000 }] })
    expect(registered.status).toBe('201')
    const alice = JSON.parse(registered.body) as { id: string, token: string, publicEndpoint: { address: string } }
    expect(alice).toMatchObject({ id: 'alice', token: expect.stringMatching(/^pl_/), publicEndpoint: { address: '127.0.0.1' } })

    // Authorise with her token.
    await page.locator('.auth-wrapper button.authorize').click()
    const bearer = page.locator('.modal-ux .auth-container').filter({ hasText: 'bearerAuth' })
    await bearer.locator('input').fill(alice.token)
    await bearer.locator('button.authorize').click()
    await expect.poll(async () => await bearer.locator('button.btn-done, button.auth-btn-wrapper, button').filter({ hasText: 'Logout' }).count()).toBe(1)
    await page.locator('.modal-ux button.btn-done, .modal-ux .close-modal').first().click()

    // bob registers elsewhere; alice introduces herself to him through the page.
    await registerOverHttp(base, { id: 'bob' })
    const introduced = await execute(page.locator('#operations-introductions-introduce'), { target: 'bob' })
    expect(introduced.curl).toContain(`Authorization: Bearer ${alice.token}`)
    expect(introduced.status).toBe('201')
    expect(JSON.parse(introduced.body)).toMatchObject({ role: 'initiator', self: { id: 'alice' }, peer: { id: 'bob' }, secret: expect.any(String) })

    // The introduction really is stored and waiting in bob's inbox.
    expect(await app.prisma.introduction.count({ where: { initiatorId: 'alice', targetId: 'bob' } })).toBe(1)

    mkdirSync(path.dirname(ARTIFACT), { recursive: true })
    await page.locator('#operations-introductions-introduce').screenshot({ path: ARTIFACT })
    expect(existsSync(ARTIFACT)).toBe(true)
  }, 90_000)
})
