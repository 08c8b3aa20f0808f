/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — which symbols the shared library exports.
 *
 * The library is built with -fvisibility=hidden: only what a public header
 * declares with UVBLE_EXTERN is in libuvble.so's dynamic symbol table, so
 * an application can neither reach nor collide with the stack's internals
 * (libuv's UV_EXTERN, the same way). Every function a public header
 * declares carries it; `ctest -R unit.exported_symbols` checks both ways. */
#ifndef UVBLE_EXPORT_H
#define UVBLE_EXPORT_H

#if defined(__GNUC__) && __GNUC__ >= 4
#define UVBLE_EXTERN __attribute__((visibility("default")))
#else
#define UVBLE_EXTERN /* nothing */
#endif

#endif
