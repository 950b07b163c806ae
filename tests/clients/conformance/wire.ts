// Helpers for the REST conformance suite (tests/rest_conformance.rs). Each captured response is
// declared `as const` (so string and number literals keep their literal types) and then assigned
// through `wire()` to the PeerTube type: a function's result is not a fresh object literal, so
// TypeScript checks every required property and every type but does not reject Fleuve's extra
// fields (`encoder`, `fallbackReason`, `transcoding`, ...).

/** `T` without `readonly`, tuples widened to arrays: what `as const` gives, made assignable. */
export type DeepMutable<T> = T extends readonly (infer U)[]
  ? DeepMutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: DeepMutable<T[K]> }
    : T

/** The captured response, typed for assignment to a PeerTube type. */
export function wire<T>(doc: T): DeepMutable<T> {
  return doc as DeepMutable<T>
}

// Properties that PeerTube 8's own server sends as null although its TypeScript models say
// `string` (its OpenAPI spec marks them nullable): an unset description, support text or
// original publication date, an input file never replaced, a thread's root comment (no
// `inReplyToCommentId`) or a comment not deleted (no `deletedAt`: PeerTube's
// VideoCommentModel.toFormattedJSON sends both as null), and the id of an unset category,
// licence or language; a registration not answered yet (`moderationResponse`, which
// UserRegistrationModel.toFormattedJSON sends as null); a playlist element's unset start or
// stop (VideoPlaylistElementModel.toFormattedJSON) and an empty playlist's thumbnail
// (VideoPlaylistModel.getThumbnailStaticPath answers null); a runner job's progress, start and
// end before they happen (RunnerJobModel.toFormattedJSON sends the nullable columns as they are).
type NullableKeys =
  | 'description'
  | 'truncatedDescription'
  | 'support'
  | 'originallyPublishedAt'
  | 'inputFileUpdatedAt'
  | 'inReplyToCommentId'
  | 'deletedAt'
  | 'moderationResponse'
  | 'startTimestamp'
  | 'stopTimestamp'
  | 'thumbnailPath'
  | 'progress'
  | 'startedAt'
  | 'finishedAt'
type LabelKeys = 'category' | 'licence' | 'language'

/** `T` as PeerTube 8 puts it on the wire: `T`, dates as ISO strings, the nulls above allowed. */
export type Wire<T> = T extends Date
  ? Date | string
  : T extends (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? {
          [K in keyof T]: K extends NullableKeys
            ? Wire<T[K]> | null
            : K extends LabelKeys
              ? T[K] extends { id: infer I; label: string }
                ? { id: I | null; label: string }
                : Wire<T[K]>
              : Wire<T[K]>
        }
      : T
