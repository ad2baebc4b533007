// Records from several nodes leave in timestamp order once their window has passed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReorderBuffer } from '../src/output/reorder.js';

describe('reorder window', () => {
  it('releases in timestamp order what waited the window, and holds the rest', () => {
    let now = 0;
    const out: string[] = [];
    const buf = new ReorderBuffer<string>(
      (items) => out.push(...items),
      100,
      1000,
      () => now,
      false,
    );
    buf.push(30n, 'a30'); // node a is ahead
    buf.push(10n, 'b10'); // node b lags: earlier packet, later arrival
    now = 50;
    buf.push(20n, 'b20');
    buf.drain();
    assert.deepEqual(out, [], 'nothing has waited 100 ms yet');
    now = 120;
    buf.drain();
    // b10 leaves; b20 (arrived at 50) has not waited its window, and a30 must not overtake it.
    assert.deepEqual(out, ['b10'], 'only the head leaves while a younger, earlier record waits');
    now = 150;
    buf.drain();
    assert.deepEqual(out, ['b10', 'b20', 'a30']);
    assert.equal(buf.size, 0);
  });

  it('keeps arrival order for equal timestamps, releases everything on drain(all), and bounds what it holds', () => {
    const out: number[] = [];
    const buf = new ReorderBuffer<number>(
      (items) => out.push(...items),
      100,
      3,
      () => 0,
      false,
    );
    for (const [ts, v] of [
      [5n, 1],
      [5n, 2],
      [1n, 3],
      [9n, 4],
    ] as const)
      buf.push(ts, v);
    assert.deepEqual(out, [3], 'a fourth record pushes out the earliest');
    buf.drain(true);
    assert.deepEqual(out, [3, 1, 2, 4]);
  });
});
