// One record (commit + push) of the primary's live dir; the trial runner SIGKILLs it at a random moment.
const [dist, nodeFile] = process.argv.slice(2);
const { loadNodeFile } = await import(`${dist}/config/load.js`);
const { record } = await import(`${dist}/record/record.js`);
const cfg = loadNodeFile({ file: nodeFile });
process.stdout.write('ready\n');
const r = await record(cfg, {});
process.stdout.write(`done ${r.commit ?? '-'} pushed=${r.pushed}\n`);
