// The builder's fields use components/ui's Field with `live={false}`: the builder validates
// on the server 500 ms after every pause in typing, so alerts would interrupt a screen reader
// again and again. Errors are linked to their controls with aria-describedby instead, and the
// validation summary announces the settled result politely.

/** `aria-describedby` for the control of field `id`: its help and, when there is one, its error. */
export function describedBy(id: string, { help, error }: { help?: boolean; error?: unknown }): string | undefined {
  const ids = [help ? `${id}-help` : '', error ? `${id}-error` : ''].filter(Boolean);
  return ids.length > 0 ? ids.join(' ') : undefined;
}
