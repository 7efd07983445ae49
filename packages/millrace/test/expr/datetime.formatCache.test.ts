import { describe, expect, it } from 'vitest';
import { compileFormatter } from '../../src/expr/functions/datetime.ts';

describe('date_format remembers the last unit of its finest field', () => {
  it('gives the right text when times go back and forth across units', () => {
    const day = compileFormatter('date_format', 'yyyy-MM-dd');
    const minute = compileFormatter('date_format', 'HH:mm');
    const hour12 = compileFormatter('date_format', 'h a');
    const t0 = Date.UTC(2024, 0, 31, 23, 59, 30);
    const seq = [t0, t0 + 10_000, t0 + 40_000, t0 + 20_000, t0 + 86_400_000, t0 - 1, t0 + 31_000];
    expect(seq.map(day)).toEqual([
      '2024-01-31',
      '2024-01-31',
      '2024-02-01',
      '2024-01-31',
      '2024-02-01',
      '2024-01-31',
      '2024-02-01',
    ]);
    expect(seq.map(minute)).toEqual(['23:59', '23:59', '00:00', '23:59', '23:59', '23:59', '00:00']);
    expect(
      [Date.UTC(2024, 0, 1, 11, 59), Date.UTC(2024, 0, 1, 12, 0), Date.UTC(2024, 0, 1, 11, 0)].map(hour12),
    ).toEqual(['11 AM', '12 PM', '11 AM']);
  });
});
