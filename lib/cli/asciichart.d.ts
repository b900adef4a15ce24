declare module 'asciichart' {
  export function plot(series: number[] | number[][], config?: { height?: number; colors?: string[] }): string;
  export const red: string;
  export const green: string;
  export const blue: string;
  export const reset: string;
  const _default: { plot: typeof plot; red: string; green: string; blue: string; reset: string };
  export default _default;
}
