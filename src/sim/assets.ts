/** Media every simulator serves: small real files, committed because CI has no ffmpeg. */
export const SIM_ASSETS = {
  video480p: new URL('./assets/sample-480p.mp4', import.meta.url),
  video720p: new URL('./assets/sample-720p.mp4', import.meta.url),
  image: new URL('./assets/input-64.png', import.meta.url),
} as const;
