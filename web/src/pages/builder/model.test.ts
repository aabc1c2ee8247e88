import { describe, expect, it } from 'vitest';
import { cleanJob, fieldDomId, moveItem, paramErrorTree, sparseParams, specFrom } from './model';

describe('model', () => {
  it('maps server field paths to rjsf error trees and DOM ids', () => {
    const problems = [
      { field: 'actions[0].params.count', message: 'too big' },
      { field: 'actions[0].params.oids[1]', message: 'bad oid' },
      { field: 'actions[1].params.count', message: 'other action' },
    ];
    expect(paramErrorTree(problems, 'actions[0].params')).toEqual({ count: { __errors: ['too big'] }, oids: { 1: { __errors: ['bad oid'] } } });
    expect(paramErrorTree(problems, 'actions[2].params')).toBeUndefined();
    expect(fieldDomId('actions[0].params.oids[1]')).toBe('action-0-params_oids');
    expect(fieldDomId('actions[3].criteria.ok')).toBe('action-3-criteria-ok');
    expect(fieldDomId('options.concurrency')).toBe('job-option-concurrency');
    expect(fieldDomId('targets.include[0].value')).toBe('job-targets');
  });

  it('keeps params sparse', () => {
    expect(sparseParams({ count: 3, size: 56 }, {}, { count: 3, size: 56 })).toEqual({});
    expect(sparseParams({ count: 3, size: 100 }, { count: 3 }, { count: 3, size: 56 })).toEqual({ count: 3, size: 100 });
  });

  it('reads a spec from a spec, a stored job or a template file', () => {
    const spec = { name: 'a', schedule: { type: 'manual' }, targets: { include: [] }, actions: [{ command: 'ping.icmp' }] };
    expect(specFrom({ ...spec, id: 'x', version: 3, created_at: 'now' })).not.toHaveProperty('id');
    expect(specFrom({ format: 'opsconductor.template/v1', name: 't', spec })?.name).toBe('a');
    expect(specFrom({ hello: 1 })).toBeNull();
    expect(specFrom('nope')).toBeNull();
  });

  it('cleans a job for the server', () => {
    const job = cleanJob({
      name: 'a',
      tags: [' core ', ''],
      schedule: { type: 'manual' },
      targets: { include: [] },
      options: { concurrency: undefined, segment: null, chunk_size: 10 },
      actions: [{ command: 'ping.icmp', params: {}, name: '', criteria: { ok: '  ', warn: 'x > 1' }, timeout_ms: null }],
    });
    expect(job.tags).toEqual(['core']);
    expect(job.options).toEqual({ chunk_size: 10 });
    expect(job.actions[0]).toEqual({ command: 'ping.icmp', params: {}, criteria: { warn: 'x > 1' } });
    expect(moveItem([1, 2, 3], 0, 2)).toEqual([2, 3, 1]);
  });
});
