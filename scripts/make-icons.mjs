#!/usr/bin/env node
// Renders the PWA icons from public/icons/icon.svg (our own drawing) with @resvg/resvg-js:
// icon-192.png, icon-512.png and a maskable icon-maskable-512.png (content inside the 80% safe zone).
import { Resvg } from '@resvg/resvg-js';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../public/icons/', import.meta.url));
const svg = readFileSync(dir + 'icon.svg', 'utf8');
const render = (src, size) => new Resvg(src, { fitTo: { mode: 'width', value: size }, font: { loadSystemFonts: false } }).render().asPng();
writeFileSync(dir + 'icon-192.png', render(svg, 192));
writeFileSync(dir + 'icon-512.png', render(svg, 512));
// Maskable: full-bleed background, artwork scaled to 70% in the middle.
const inner = svg.replace(/^[\s\S]*?<svg[^>]*>/, '').replace(/<\/svg>\s*$/, '');
const maskable = `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512"><rect width="512" height="512" fill="#14161b"/><g transform="translate(76.8 76.8) scale(0.7)">${inner}</g></svg>`;
writeFileSync(dir + 'icon-maskable-512.png', render(maskable, 512));
console.log('icons written to', dir);
