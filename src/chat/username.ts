/**
 * The one rule for a username, wherever one is read: the credentials file, every API field and path
 * parameter, and the frames between two terminal clients. It imports nothing, so the terminal client
 * can share it without pulling in the server.
 */
export const USERNAME_MAX_LENGTH = 32;

/** Letters, digits, '.', '_' and '-': no white space, no control character, nothing a log or a URL would mangle. */
export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

export const USERNAME_RULE = `1 to ${USERNAME_MAX_LENGTH} ASCII letters, digits, '.', '_' or '-' (case-sensitive)`;

export const isUsername = (name: string) => USERNAME_PATTERN.test(name);
