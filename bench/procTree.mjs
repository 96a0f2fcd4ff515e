/** Memory of a browser's process tree, read from /proc (Linux): for the benches that watch Chromium's processes. */
import { readdirSync, readFileSync } from 'node:fs';

/** pid → { ppid, cmd, rss, hwm } (bytes) of every process now. */
export function procTable() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
      out.set(Number(d), { ppid, cmd, rss: kb('VmRSS'), hwm: kb('VmHWM') });
    } catch { /* exited */ }
  }
  return out;
}

/** pid → { type, rss, hwm } for rootPid and all its descendants (type: Chromium's --type, or 'browser'). */
export function sampleTree(rootPid, table = procTable()) {
  const mine = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of table) if (!mine.has(pid) && mine.has(p.ppid)) (mine.add(pid), (grew = true));
  }
  const out = {};
  for (const pid of mine) {
    const p = table.get(pid);
    if (p) out[pid] = { type: /--type=([\w-]+)/.exec(p.cmd)?.[1] ?? 'browser', rss: p.rss, hwm: p.hwm };
  }
  return out;
}
