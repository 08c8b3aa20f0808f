/* SPDX-License-Identifier: Apache-2.0 */
/* One intrusive list for the core's queues and lists (issue 16, item 5).
 *
 * The element embeds a struct sq_node; the queue links those nodes and
 * counts them, so a bound is one comparison against len (no unbounded
 * queue anywhere: DESIGN.md). An all-zero struct sq is an empty queue, so
 * a queue inside a calloc'ed or memset object needs no init (sq_init
 * empties one that is in use, forgetting its nodes). Nothing here
 * allocates. A node is on at most one queue at a time.
 *
 * Singly linked: push at either end and pop are O(1); removing a node
 * from the middle walks to it (sq_remove), which suits the core's lists,
 * all short and bounded.
 *
 *   struct item { struct sq_node node; int v; };
 *   sq_push(&q, &it->node);
 *   struct item *first = SQ_FIRST(&q, struct item, node);
 *   for (struct item *i = first; i; i = SQ_NEXT(i, struct item, node)) ...
 *   struct sq_node **at = &q.head, *prev = NULL;  // remove while walking
 *   while (*at)
 *     if (drop(SQ_ENTRY(*at, struct item, node))) sq_unlink(&q, at, prev);
 *     else at = &(prev = *at)->next;
 */
#ifndef UVBLE_CORE_QUEUE_H
#define UVBLE_CORE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct sq_node {
  struct sq_node *next;
};

struct sq {
  struct sq_node *head, *tail;
  size_t len;
};

/* The element holding node (node must not be NULL). */
#define SQ_ENTRY(node, type, member) \
  ((type *)(void *)((char *)(node)-offsetof(type, member)))
/* The first element, or NULL. */
#define SQ_FIRST(q, type, member) \
  ((q)->head ? SQ_ENTRY((q)->head, type, member) : (type *)NULL)
/* The element after elem on its queue, or NULL. */
#define SQ_NEXT(elem, type, member) \
  ((elem)->member.next ? SQ_ENTRY((elem)->member.next, type, member) \
                       : (type *)NULL)

static inline void sq_init(struct sq *q) {
  q->head = q->tail = NULL;
  q->len = 0;
}

static inline bool sq_empty(const struct sq *q) { return q->head == NULL; }

static inline void sq_push(struct sq *q, struct sq_node *n) {
  n->next = NULL;
  if (q->tail)
    q->tail->next = n;
  else
    q->head = n;
  q->tail = n;
  q->len++;
}

static inline void sq_push_front(struct sq *q, struct sq_node *n) {
  n->next = q->head;
  q->head = n;
  if (!q->tail) q->tail = n;
  q->len++;
}

/* Takes the first node off; NULL when empty. */
static inline struct sq_node *sq_pop(struct sq *q) {
  struct sq_node *n = q->head;
  if (!n) return NULL;
  q->head = n->next;
  if (!q->head) q->tail = NULL;
  q->len--;
  n->next = NULL;
  return n;
}

/* Unlinks *at, the node after prev (prev NULL: *at is the head); at then
 * points at the node that followed, so a walk can go on from it. */
static inline struct sq_node *sq_unlink(struct sq *q, struct sq_node **at,
                                        struct sq_node *prev) {
  struct sq_node *n = *at;
  *at = n->next;
  if (q->tail == n) q->tail = prev;
  q->len--;
  n->next = NULL;
  return n;
}

/* Unlinks n wherever it is on q; false (q unchanged) when it is not
 * there. Walks from the head. */
static inline bool sq_remove(struct sq *q, struct sq_node *n) {
  struct sq_node **at = &q->head, *prev = NULL;
  while (*at && *at != n) at = &(prev = *at)->next;
  if (!*at) return false;
  sq_unlink(q, at, prev);
  return true;
}

/* Moves every node of src to the end of dst, in order; src is empty. */
static inline void sq_concat(struct sq *dst, struct sq *src) {
  if (!src->head) return;
  if (dst->tail)
    dst->tail->next = src->head;
  else
    dst->head = src->head;
  dst->tail = src->tail;
  dst->len += src->len;
  src->head = src->tail = NULL;
  src->len = 0;
}

#endif
