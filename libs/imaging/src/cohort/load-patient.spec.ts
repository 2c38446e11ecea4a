import { acquisitionOrder } from './load-patient';

describe('acquisitionOrder', () => {
  it('sorts stored phases by time after injection and keeps the first T', () => {
    expect(acquisitionOrder(7, [300, 0, 60, 30, 120, 1200, -5], 6)).toEqual({
      phaseOrder: [6, 1, 3, 2, 4, 0],
      phaseTimes: [-5, 0, 30, 60, 120, 300],
    });
  });
  it('keeps the stored order for equal times and without times', () => {
    expect(acquisitionOrder(4, [0, 33.4, 33.4, 70], 4).phaseOrder).toEqual([0, 1, 2, 3]);
    expect(acquisitionOrder(4, [0, 33.4, 33.4, 10], 4).phaseOrder).toEqual([0, 3, 1, 2]);
    expect(acquisitionOrder(3, null, 3)).toEqual({ phaseOrder: [0, 1, 2], phaseTimes: null });
  });
});
