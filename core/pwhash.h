/*
 * pwhash: checks a password against a stored {SCHEME}hash, as LDAP's
 * userPassword holds it (research/schema.md 5):
 *   {SSHA} {SSHA256} {SSHA512}  base64(SHA(pw || salt) || salt), any salt
 *   {CRYPT}                     crypt(3) through libxcrypt ($y$, $6$, $5$,
 *                               $2b$ and whatever else it supports)
 *   {ARGON2}                    PHC string, through libargon2
 *   {PLAIN}                     only when the configuration allows it
 * Slow by design ($y$ ~ 54 ms, argon2id ~ 430 ms): only the password
 * workers (authw) call it, never the loop. Digests are compared in
 * constant time. Pure: no state, no I/O.
 */
#ifndef VD_PWHASH_H
#define VD_PWHASH_H

#include <stdbool.h>
#include <stddef.h>

enum pwhash_result {
	PWHASH_BAD = -1,     /* malformed or unsupported stored value */
	PWHASH_MISMATCH = 0,
	PWHASH_MATCH = 1,
};

enum pwhash_result pwhash_verify(const char *stored, size_t slen,
				 const char *pw, size_t pwlen,
				 bool allow_plain);

#endif
