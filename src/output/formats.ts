// The output formats of `-o`: lines of text, or one JSON object per line.
export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
