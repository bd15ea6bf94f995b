// One-line messages from zod errors: "requests: expected a number >= 1, got 0".
import type * as z from 'zod';

export function formatZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const where = i.path.length ? `${i.path.join('.')}: ` : '';
      const got = 'input' in i && i.input !== undefined ? `, got ${JSON.stringify(i.input)}` : '';
      return `${where}${i.message}${got}`;
    })
    .join('; ');
}
