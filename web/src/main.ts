// The miners' dashboard: pool overview, a miner's page and the blocks list, all from the pool's JSON API.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { formatAgo, formatHashrate, formatLtc, formatNumber, formatPercent, parseLtc, shortHash } from '../../src/ops/format.js';

interface Point { time: string; hashrate: number; shares: number }
interface Series { range: string; bucketSeconds: number; points: Point[] }
interface Block {
  height: number; hash: string; status: string; finder: string; worker: string; rewardLitoshis: string;
  confirmations: number; foundAt: string; effort: number | null; chain?: string; unit?: string;
}
interface Payment { id: string; address: string; amountLitoshis: string; status: string; txid: string | null; createdAt: string; unit?: string }
interface AuxBalance { chain: string; unit: string; balanceLitoshis: string; immatureLitoshis: string; paidLitoshis: string; payTo: string | null }
interface PoolInfo {
  hashrate: number; miners: number; workers: number; connections: number;
  network: { height: number; difficulty: number; hashrate: number } | null;
  feePercent: number; scheme: string;
  stratumPorts: { port: number; difficulty: number; tls: boolean; name?: string }[];
  blocks: { counts: Record<string, number>; last: Block[] };
}
interface Worker { name: string; hashrate: number; shares: number; lastShareAt: string | null; online: boolean }
interface Settings {
  payoutThreshold: string | null; minPayoutThreshold: string; maxPayoutThreshold: string;
  webhookUrl: string | null; ntfyUrl: string | null; canEdit: boolean;
  notify: { workerOffline: boolean; hashrateDrop: boolean; blockFound: boolean; paymentSent: boolean };
}
const NOTIFY_LABELS: [keyof Settings['notify'], string][] = [
  ['workerOffline', 'a worker goes offline'], ['hashrateDrop', 'hashrate drops'], ['blockFound', 'the pool finds a block'], ['paymentSent', 'a payment is sent'],
];
interface MinerInfo {
  address: string; hashrate: number; shares: number; windowSeconds: number; workers: Worker[];
  balanceLitoshis: string; immatureLitoshis: string; pendingLitoshis: string; paidLitoshis: string; payments: Payment[]; auxChains?: AuxBalance[];
}

const app = document.getElementById('app')!;
const RANGES = ['1h', '24h', '7d'];
let charts: uPlot[] = [];

async function api<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body as { error?: string }).error ?? `${path}: HTTP ${response.status}`);
  return body as T;
}

function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function stat(label: string, field: string, value: string): string {
  return `<div class="stat"><span class="label">${esc(label)}</span><span class="value" data-field="${field}">${esc(value)}</span></div>`;
}

function minerLink(address: string): string {
  return `<a class="mono" href="/miners/${encodeURIComponent(address)}">${esc(shortHash(address))}</a>`;
}

function blocksTable(blocks: Block[]): string {
  if (blocks.length === 0) return '<p class="muted">No blocks found yet.</p>';
  const rows = blocks.map((b) => `<tr data-height="${b.height}">
    <td><span data-field="height">${b.height}</span>${b.chain && b.chain !== 'litecoin' ? ` <span class="chain" data-field="chain">${esc(b.chain)}</span>` : ''}</td>
    <td><span class="status ${esc(b.status)}" data-field="status">${esc(b.status)}</span></td>
    <td data-field="confirmations">${b.confirmations}</td>
    <td data-field="effort">${formatPercent(b.effort)}</td>
    <td>${formatLtc(b.rewardLitoshis, b.unit)}</td>
    <td>${minerLink(b.finder)}</td>
    <td class="mono" title="${esc(b.hash)}">${esc(shortHash(b.hash))}</td>
    <td>${formatAgo(b.foundAt)}</td></tr>`).join('');
  return `<div class="scroll"><table class="blocks"><thead><tr><th>Height</th><th>Status</th><th>Conf.</th><th>Effort</th><th>Reward</th><th>Finder</th><th>Hash</th><th>Found</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function paymentsTable(payments: Payment[], showAddress: boolean): string {
  if (payments.length === 0) return '<p class="muted">No payments yet.</p>';
  const rows = payments.map((p) => `<tr data-payment="${esc(p.id)}">
    ${showAddress ? `<td>${minerLink(p.address)}</td>` : ''}
    <td data-field="amount">${formatLtc(p.amountLitoshis, p.unit)}</td>
    <td>${esc(p.status)}</td>
    <td class="mono" data-field="txid" title="${esc(p.txid ?? '')}">${p.txid ? esc(shortHash(p.txid)) : '—'}</td>
    <td>${formatAgo(p.createdAt)}</td></tr>`).join('');
  return `<div class="scroll"><table class="payments"><thead><tr>${showAddress ? '<th>Address</th>' : ''}<th>Amount</th><th>Status</th><th>Transaction</th><th>When</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function rangeButtons(current: string): string {
  return `<div class="ranges">${RANGES.map((r) => `<button data-range="${r}" class="${r === current ? 'on' : ''}">${r}</button>`).join('')}</div>`;
}

/** Draws a hashrate chart into `el`; data-points on the element counts the buckets with shares (browser test). */
function drawChart(el: HTMLElement, series: Series): void {
  const xs = series.points.map((p) => Date.parse(p.time) / 1000);
  const ys = series.points.map((p) => p.hashrate);
  el.innerHTML = '';
  el.dataset.points = String(series.points.filter((p) => p.shares > 0).length);
  el.dataset.shares = String(series.points.reduce((s, p) => s + p.shares, 0));
  const width = Math.max(280, el.clientWidth || 600);
  const chart = new uPlot(
    {
      width,
      height: 220,
      series: [{}, { label: 'hashrate', stroke: '#3b82f6', fill: 'rgba(59,130,246,0.15)', width: 2, value: (_u, v) => (v == null ? '—' : formatHashrate(v)) }],
      axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((t) => formatHashrate(t)) }],
      scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      legend: { show: true },
    },
    [xs, ys],
    el,
  );
  charts.push(chart);
}

async function chartSection(el: HTMLElement, load: (range: string) => Promise<Series>, initial: string): Promise<void> {
  const draw = async (range: string) => {
    el.querySelectorAll<HTMLButtonElement>('button[data-range]').forEach((b) => b.classList.toggle('on', b.dataset.range === range));
    const target = el.querySelector<HTMLElement>('.chart')!;
    drawChart(target, await load(range));
  };
  el.querySelectorAll<HTMLButtonElement>('button[data-range]').forEach((b) => b.addEventListener('click', () => void draw(b.dataset.range!)));
  await draw(initial);
}

async function overview(): Promise<void> {
  const [pool, payments] = await Promise.all([api<PoolInfo>('/api/pool'), api<{ payments: Payment[] }>('/api/payments?limit=10')]);
  const host = location.hostname;
  const ports = pool.stratumPorts.map((p) => `<tr><td class="mono">stratum+${p.tls ? 'ssl' : 'tcp'}://${esc(host)}:${p.port}</td><td>${formatNumber(p.difficulty)}</td><td>${esc(p.name ?? '')}</td></tr>`).join('');
  const firstPort = pool.stratumPorts[0];
  app.innerHTML = `
    <h1>Pool</h1>
    <section class="stats">
      ${stat('Pool hashrate', 'pool-hashrate', formatHashrate(pool.hashrate))}
      ${stat('Miners', 'pool-miners', String(pool.miners))}
      ${stat('Workers', 'pool-workers', String(pool.workers))}
      ${stat('Network height', 'network-height', pool.network ? String(pool.network.height) : '—')}
      ${stat('Network difficulty', 'network-difficulty', pool.network ? formatNumber(pool.network.difficulty) : '—')}
      ${stat('Network hashrate', 'network-hashrate', pool.network ? formatHashrate(pool.network.hashrate) : '—')}
      ${stat('Fee', 'pool-fee', `${pool.feePercent} %`)}
      ${stat('Scheme', 'pool-scheme', pool.scheme)}
      ${stat('Blocks confirmed', 'blocks-confirmed', String(pool.blocks.counts.confirmed ?? 0))}
    </section>
    <section id="pool-chart" class="card"><h2>Hashrate</h2>${rangeButtons('24h')}<div class="chart"></div></section>
    <section class="card"><h2>Last blocks</h2>${blocksTable(pool.blocks.last)}<p><a href="/blocks">All blocks</a></p></section>
    <section class="card"><h2>Payments</h2>${paymentsTable(payments.payments, true)}</section>
    <section class="card connect"><h2>How to connect</h2>
      ${ports ? `<div class="scroll"><table><thead><tr><th>URL</th><th>Start difficulty</th><th></th></tr></thead><tbody>${ports}</tbody></table></div>` : ''}
      <p>User name: your Litecoin address, optionally followed by <code>.workername</code>; any password.</p>
      <pre>cpuminer -a scrypt -o stratum+tcp://${esc(host)}:${firstPort?.port ?? 3333} -u YOUR_LTC_ADDRESS.rig1 -p x</pre>
    </section>`;
  await chartSection(document.getElementById('pool-chart')!, (range) => api<Series>(`/api/pool/history?range=${range}`), '24h');
}

async function minerPage(address: string): Promise<void> {
  let miner: MinerInfo;
  let settings: Settings | null;
  try {
    [miner, settings] = await Promise.all([
      api<MinerInfo>(`/api/miners/${encodeURIComponent(address)}`),
      api<Settings>(`/api/miners/${encodeURIComponent(address)}/settings`).catch(() => null),
    ]);
  } catch (error) {
    app.innerHTML = `<h1>Miner</h1><p class="error" data-field="error">${esc((error as Error).message)}</p>`;
    return;
  }
  const workers = miner.workers.map((w) => `<tr data-worker="${esc(w.name)}">
    <td data-field="name">${esc(w.name || '(default)')}</td>
    <td data-field="hashrate">${formatHashrate(w.hashrate)}</td>
    <td data-field="shares">${w.shares}</td>
    <td data-field="last-share">${formatAgo(w.lastShareAt)}</td>
    <td><span class="status ${w.online ? 'online' : 'offline'}" data-field="status">${w.online ? 'online' : 'offline'}</span></td></tr>`).join('');
  app.innerHTML = `
    <h1>Miner <span class="mono small" data-field="address">${esc(miner.address)}</span></h1>
    <section class="stats">
      ${stat(`Hashrate (${Math.round(miner.windowSeconds / 60)} min)`, 'miner-hashrate', formatHashrate(miner.hashrate))}
      ${stat('Shares', 'miner-shares', String(miner.shares))}
      ${stat('Workers online', 'miner-online', `${miner.workers.filter((w) => w.online).length} / ${miner.workers.length}`)}
      ${stat('Balance', 'miner-balance', formatLtc(miner.balanceLitoshis))}
      ${stat('Immature', 'miner-immature', formatLtc(miner.immatureLitoshis))}
      ${stat('Pending', 'miner-pending', formatLtc(miner.pendingLitoshis))}
      ${stat('Paid', 'miner-paid', formatLtc(miner.paidLitoshis))}
      ${(miner.auxChains ?? []).map((a) => stat(`${a.unit} balance`, `miner-balance-${a.chain}`, formatLtc(a.balanceLitoshis, a.unit)) +
        stat(`${a.unit} paid`, `miner-paid-${a.chain}`, formatLtc(a.paidLitoshis, a.unit)) +
        stat(`${a.unit} paid to`, `miner-payto-${a.chain}`, a.payTo ? esc(shortHash(a.payTo)) : `no address yet (password ${esc(a.chain === 'dogecoin' ? 'doge' : a.chain)}=…)`)).join('')}
    </section>
    <section id="miner-chart" class="card"><h2>Hashrate</h2>${rangeButtons('24h')}<div class="chart"></div></section>
    <section class="card"><h2>Workers</h2>${workers ? `<div class="scroll"><table class="workers"><thead><tr><th>Worker</th><th>Hashrate</th><th>Shares</th><th>Last share</th><th>Status</th></tr></thead><tbody>${workers}</tbody></table></div>` : '<p class="muted">No workers.</p>'}</section>
    <section class="card"><h2>Payments</h2>${paymentsTable(miner.payments, false)}</section>
    ${settings ? settingsCard(miner.address, settings) : ''}`;
  wireSettings();
  await chartSection(document.getElementById('miner-chart')!, (range) => api<Series>(`/api/miners/${encodeURIComponent(address)}/history?range=${range}`), '24h');
}

function settingsCard(address: string, s: Settings): string {
  const threshold = s.payoutThreshold ?? s.minPayoutThreshold;
  const range = `${formatLtc(s.minPayoutThreshold)} – ${formatLtc(s.maxPayoutThreshold)}`;
  if (!s.canEdit) {
    return `<section class="card" id="settings"><h2>Settings</h2>
      <p>Payout threshold: <span data-field="threshold">${formatLtc(threshold)}</span>${s.payoutThreshold ? '' : ' (pool default)'}.
      Notifications: ${NOTIFY_LABELS.filter(([k]) => s.notify[k]).map(([, l]) => l).join(', ') || 'none'};
      webhook ${s.webhookUrl ? 'set' : 'not set'}, ntfy ${s.ntfyUrl ? 'set' : 'not set'}.</p>
      <p class="muted">To change them, open this page from the IP address of one of your connected workers.</p></section>`;
  }
  return `<section class="card" id="settings"><h2>Settings</h2>
    <form id="settings-form" data-address="${esc(address)}">
      <label>Payout threshold (LTC, ${range})<br><input name="threshold" value="${esc(formatLtc(threshold).replace(' LTC', ''))}" inputmode="decimal"></label>
      <label>Webhook URL (JSON POST)<br><input name="webhookUrl" value="${esc(s.webhookUrl ?? '')}" placeholder="https://…"></label>
      <label>ntfy topic URL<br><input name="ntfyUrl" value="${esc(s.ntfyUrl ?? '')}" placeholder="https://ntfy.sh/your-topic"></label>
      <fieldset><legend>Tell me when</legend>${NOTIFY_LABELS.map(([k, l]) => `<label class="check"><input type="checkbox" name="${k}" ${s.notify[k] ? 'checked' : ''}> ${l}</label>`).join('')}</fieldset>
      <button type="submit">Save</button> <span data-field="settings-result"></span>
    </form></section>`;
}

function wireSettings(): void {
  const form = document.getElementById('settings-form') as HTMLFormElement | null;
  if (!form) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const result = form.querySelector<HTMLElement>('[data-field="settings-result"]')!;
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
    const threshold = parseLtc(value('threshold'));
    if (threshold === null) {
      result.textContent = 'threshold: a number of LTC with up to 8 decimals';
      return;
    }
    const body = {
      payoutThreshold: threshold, webhookUrl: value('webhookUrl') || null, ntfyUrl: value('ntfyUrl') || null,
      notify: Object.fromEntries(NOTIFY_LABELS.map(([k]) => [k, (form.elements.namedItem(k) as HTMLInputElement).checked])),
    };
    void fetch(`/api/miners/${encodeURIComponent(form.dataset.address!)}/settings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(async (response) => {
        const answer = await response.json().catch(() => ({}));
        result.textContent = response.ok ? 'saved' : `not saved: ${(answer as { error?: string }).error ?? response.status}`;
      });
  });
}

async function blocksPage(): Promise<void> {
  const { blocks } = await api<{ blocks: Block[] }>('/api/blocks?limit=100');
  app.innerHTML = `<h1>Blocks</h1><section class="card">${blocksTable(blocks)}</section>`;
}

async function render(): Promise<void> {
  charts.forEach((c) => c.destroy());
  charts = [];
  const path = location.pathname;
  const query = new URLSearchParams(location.search).get('address');
  try {
    if (path.startsWith('/miners/')) await minerPage(decodeURIComponent(path.slice('/miners/'.length)) || query || '');
    else if (path === '/blocks') await blocksPage();
    else await overview();
    document.body.dataset.ready = 'true';
  } catch (error) {
    app.innerHTML = `<p class="error" data-field="error">${esc((error as Error).message)}</p>`;
    document.body.dataset.ready = 'error';
  }
}

document.getElementById('lookup')!.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = (event.target as HTMLFormElement).elements.namedItem('address') as HTMLInputElement;
  const address = input.value.trim();
  if (address) location.assign(`/miners/${encodeURIComponent(address)}`);
});

void render();
// Fresh numbers every minute, unless the reader is typing in the settings form.
setInterval(() => {
  if (document.visibilityState === 'visible' && !document.activeElement?.closest('form')) void render();
}, 60_000);
