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

describe('acquisitionOrder with the model nominal times', () => {
  it('takes the stored phases nearest the model phases, in order, when the DCE has more', () => {
    // A six-phase gadoxetate DCE into a four-phase model (pre, arterial, portal venous, delayed).
    const times = [0, 22, 38, 70, 180, 1200];
    expect(acquisitionOrder(6, times, 4, [0, 35, 70, 180])).toEqual({
      phaseOrder: [0, 2, 3, 4],
      phaseTimes: [0, 38, 70, 180],
    });
    // Stored out of order: still chosen by time.
    expect(acquisitionOrder(5, [70, 0, 180, 30, 20], 3, [0, 30, 70]).phaseOrder).toEqual([1, 3, 0]);
    // Without times, or with no spare phases, the first ones.
    expect(acquisitionOrder(6, null, 4, [0, 35, 70, 180]).phaseOrder).toEqual([0, 1, 2, 3]);
    expect(acquisitionOrder(4, [0, 5, 6, 7], 4, [0, 35, 70, 180]).phaseOrder).toEqual([0, 1, 2, 3]);
  });
});
