import { chromium, type Browser, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

export const SCREENSHOTS = resolve('test-results/screenshots');

/** Chromium flags: WebGPU on the software adapter, and nothing that phones home. */
const FLAGS = [
  '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--disable-default-apps', '--disable-extensions',
];

export interface Session {
  browser: Browser;
  page: Page;
  server: PreviewServer;
  url: string;
  consoleErrors: string[];
  close(): Promise<void>;
}

/** Serves dist/ (the production build) on a free localhost port and opens a page on it. */
export async function openPage(path = '/'): Promise<Session> {
  if (!existsSync('dist/index.html')) throw new Error('dist/ is missing: run `npx vite build` first (npm test does)');
  mkdirSync(SCREENSHOTS, { recursive: true });
  const server = await preview({ preview: { port: 0, host: '127.0.0.1', strictPort: false }, logLevel: 'warn' });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('vite preview did not bind a port');
  const url = `http://localhost:${address.port}`;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: FLAGS, headless: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(url + path);
  return {
    browser, page, server, url, consoleErrors,
    async close() {
      await browser.close();
      await new Promise<void>((r) => server.httpServer.close(() => r()));
    },
  };
}
