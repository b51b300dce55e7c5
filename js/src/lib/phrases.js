// Text made of "·"-separated phrases ("2 samples · median SSIM 0.10"), split so
// that a line can wrap between phrases and never inside one.

/** What separates two phrases in a line of text. */
export const PHRASE_SEPARATOR = " · ";

/**
 * Split a line into its phrases.
 *
 * @param {string} text a line such as "a · b c · d".
 * @returns {string[]} its phrases, trimmed, empty ones dropped (["a", "b c", "d"]);
 *   [] for empty text.
 */
export function splitPhrases(text) {
  return String(text ?? "")
    .split("·")
    .map((phrase) => phrase.trim())
    .filter((phrase) => phrase !== "");
}
