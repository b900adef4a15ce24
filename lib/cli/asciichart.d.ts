declare module 'asciichart' {
  export function plot(series: number[] | number[][], config?: { height?: number }): string;
  const _default: { plot: typeof plot };
  export default _default;
}
