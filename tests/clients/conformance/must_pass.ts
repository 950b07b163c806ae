// A well-formed VideoFile with Fleuve's extra fields: the conformance check must accept it
// (tests/rest_conformance.rs, a_broken_response_fails_the_check).
import type * as PT from '@peertube/peertube-types'
import { wire, type Wire } from './wire.js'

const file = {
  id: 1,
  resolution: { id: 240, label: '240p' },
  size: 12345,
  torrentUrl: 'http://127.0.0.1/lazy-static/torrents/a.torrent',
  torrentDownloadUrl: 'http://127.0.0.1/download/torrents/a.torrent',
  fileUrl: 'http://127.0.0.1/static/streaming-playlists/hls/u/a.mp4',
  fileDownloadUrl: 'http://127.0.0.1/static/streaming-playlists/hls/u/a.mp4',
  fps: 25,
  magnetUri: null,
  hasAudio: true,
  hasVideo: true,
  storage: 0,
  encoder: 'libx264',
  fallbackReason: null,
} as const
export const typed: Wire<PT.VideoFile> = wire(file)

const thumbnail = { height: 180, width: 320, aspectRatio: '16:9', fileUrl: 'http://127.0.0.1/t.jpg' } as const
export const thumb: Wire<PT.Thumbnail> = wire(thumbnail)
