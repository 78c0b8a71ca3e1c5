#!/usr/bin/env node
// Reads one iCalendar stream on stdin and prints what ical.js (Thunderbird's parser) sees:
//   {"parser": "ical.js", "version": ..., "calendar": {...}, "events": [...], "freebusy": [...], "errors": [...]}
// Each event: {uid, start_utc, end_utc, status, sequence, summary}, instants as
// "YYYY-MM-DDTHH:MM:SSZ". Every VTIMEZONE is registered with ICAL.TimezoneService first, as
// Thunderbird does, so TZID-qualified times are resolved through the feed's own definitions.
// Needs `npm ci` at the repository root (ical.js is a devDependency in package.json).
'use strict';

const fs = require('fs');
const path = require('path');
const ICAL = require('ical.js');

function icaljsVersion() {
  // package.json is not in the package's "exports"; read it next to the resolved entry point.
  const entry = require.resolve('ical.js');
  const pkg = path.join(path.dirname(entry), '..', 'package.json');
  return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
}

function utc(time) {
  if (!time) return null;
  return new Date(time.toUnixTime() * 1000).toISOString().replace('.000Z', 'Z');
}

function main(text) {
  const errors = [];
  const root = new ICAL.Component(ICAL.parse(text));
  if (root.name !== 'vcalendar') errors.push('top-level component is ' + root.name);
  for (const vtz of root.getAllSubcomponents('vtimezone')) {
    const zone = new ICAL.Timezone(vtz);
    if (!zone.tzid) errors.push('VTIMEZONE without TZID');
    else ICAL.TimezoneService.register(zone);
  }
  const calendar = {
    version: root.getFirstPropertyValue('version'),
    prodid: root.getFirstPropertyValue('prodid'),
    method: root.getFirstPropertyValue('method'),
    name: root.getFirstPropertyValue('name'),
    x_wr_calname: root.getFirstPropertyValue('x-wr-calname'),
    timezones: root.getAllSubcomponents('vtimezone').map((c) => c.getFirstPropertyValue('tzid')),
  };
  const events = root.getAllSubcomponents('vevent').map((comp) => {
    const ev = new ICAL.Event(comp);
    const seq = comp.getFirstPropertyValue('sequence');
    const start = ev.startDate;
    const end = ev.endDate;
    if (start && start.zone && start.zone.tzid !== 'UTC' && start.zone.tzid !== 'floating'
        && !ICAL.TimezoneService.has(start.zone.tzid)) {
      errors.push('unknown TZID ' + start.zone.tzid);
    }
    return {
      uid: ev.uid,
      start_utc: utc(start),
      end_utc: utc(end),
      status: comp.getFirstPropertyValue('status'),
      sequence: seq === null ? null : Number(seq),
      summary: ev.summary,
    };
  });
  const freebusy = root.getAllSubcomponents('vfreebusy').map((comp) => ({
    uid: comp.getFirstPropertyValue('uid'),
    start_utc: utc(comp.getFirstPropertyValue('dtstart')),
    end_utc: utc(comp.getFirstPropertyValue('dtend')),
    periods: comp.getAllProperties('freebusy').flatMap((prop) => prop.getValues().map((p) => [
      utc(p.start), utc(p.end ? p.end : p.getEnd()),
    ])),
  }));
  return { parser: 'ical.js', version: icaljsVersion(), calendar, events, freebusy, errors };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  try {
    process.stdout.write(JSON.stringify(main(input)) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ parser: 'ical.js', fatal: String(err && err.stack || err) }) + '\n');
    process.exitCode = 2;
  }
});
