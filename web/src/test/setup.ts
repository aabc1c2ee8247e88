// jsdom lacks what some components use: matchMedia (theme), ResizeObserver (virtual
// lists, Radix), Range.getClientRects (CodeMirror) and canvas (uPlot, mocked per test).
import '@testing-library/jest-dom/vitest';
import { afterEach, expect, vi } from 'vitest';
import { cleanup } from '@testing-library/react';
import '../i18n';

afterEach(() => {
  cleanup();
  localStorage.clear();
});

if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addEventListener: () => {},
      removeEventListener: () => {},
      addListener: () => {},
      removeListener: () => {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= ResizeObserverStub as unknown as typeof ResizeObserver;

if (!Range.prototype.getClientRects) {
  Range.prototype.getClientRects = () => ({ length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] }) as unknown as DOMRectList;
  Range.prototype.getBoundingClientRect = () => new DOMRect();
}
Element.prototype.scrollIntoView ??= vi.fn();

// A control a user cannot use: natively disabled, or disabled with a reason (`aria-disabled`,
// still focusable so the reason can be read; see Button's `disabledReason`).
expect.extend({
  toBeUnavailable(element: HTMLElement) {
    const pass = (element as HTMLButtonElement).disabled || element.getAttribute('aria-disabled') === 'true';
    return {
      pass,
      message: () => `expected ${element.outerHTML.slice(0, 200)} ${pass ? 'not ' : ''}to be disabled or aria-disabled`,
    };
  },
});

declare module 'vitest' {
  interface Assertion<T> {
    toBeUnavailable(): T;
  }
}
