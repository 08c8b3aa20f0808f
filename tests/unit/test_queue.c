/* SPDX-License-Identifier: Apache-2.0 */
/* lib/core/queue.h: the intrusive list every queue of the core uses. */
#include <stdint.h>

#include "test.h"
#include "queue.h"

struct item {
  int v;
  struct sq_node node; /* not first: SQ_ENTRY must subtract the offset */
};

static int values(const struct sq *q, int *out, int cap) {
  int n = 0;
  for (struct sq_node *x = q->head; x && n < cap; x = x->next)
    out[n++] = SQ_ENTRY(x, struct item, node)->v;
  return n;
}

TEST(zeroed_queue_is_empty) {
  struct sq q = {0};
  CHECK(sq_empty(&q));
  CHECK_EQ(q.len, 0);
  CHECK(sq_pop(&q) == NULL);
  CHECK(SQ_FIRST(&q, struct item, node) == NULL);
}

TEST(fifo_order_and_count) {
  struct sq q = {0};
  struct item it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
  for (int i = 0; i < 3; i++) sq_push(&q, &it[i].node);
  sq_push_front(&q, &it[3].node);
  CHECK_EQ(q.len, 4);
  int v[8];
  REQUIRE_EQ(values(&q, v, 8), 4);
  CHECK_EQ(v[0], 4);
  CHECK_EQ(v[1], 1);
  CHECK_EQ(v[3], 3);
  CHECK_EQ(SQ_FIRST(&q, struct item, node)->v, 4);
  for (int want = 0; want < 4; want++) {
    struct sq_node *n = sq_pop(&q);
    REQUIRE(n != NULL);
    CHECK_EQ(SQ_ENTRY(n, struct item, node)->v, v[want]);
    CHECK(n->next == NULL);
  }
  CHECK(sq_empty(&q));
  CHECK(q.tail == NULL);
  CHECK_EQ(q.len, 0);
  /* Usable again after running empty. */
  sq_push(&q, &it[0].node);
  CHECK(q.head == q.tail);
}

/* Removing while walking: head, middle and tail, and the tail pointer
 * stays right for the next push. */
TEST(unlink_while_walking_keeps_tail) {
  struct sq q = {0};
  struct item it[6];
  for (int i = 0; i < 6; i++) {
    it[i].v = i;
    sq_push(&q, &it[i].node);
  }
  struct sq_node **at = &q.head, *prev = NULL;
  while (*at) {
    int v = SQ_ENTRY(*at, struct item, node)->v;
    if (v == 0 || v == 3 || v == 5) {
      sq_unlink(&q, at, prev);
    } else {
      prev = *at;
      at = &prev->next;
    }
  }
  int v[8];
  REQUIRE_EQ(values(&q, v, 8), 3);
  CHECK_EQ(v[0], 1);
  CHECK_EQ(v[1], 2);
  CHECK_EQ(v[2], 4);
  CHECK_EQ(q.len, 3);
  CHECK(q.tail == &it[4].node);
  sq_push(&q, &it[5].node);
  REQUIRE_EQ(values(&q, v, 8), 4);
  CHECK_EQ(v[3], 5);
  /* Unlinking everything leaves an empty queue with no tail. */
  at = &q.head;
  while (*at) sq_unlink(&q, at, NULL);
  CHECK(sq_empty(&q));
  CHECK(q.tail == NULL);
  CHECK_EQ(q.len, 0);
}

TEST(concat_moves_everything_in_order) {
  struct sq a = {0}, b = {0};
  struct item it[5];
  for (int i = 0; i < 5; i++) {
    it[i].v = i;
    sq_push(i < 2 ? &a : &b, &it[i].node);
  }
  sq_concat(&a, &b);
  CHECK(sq_empty(&b));
  CHECK_EQ(b.len, 0);
  CHECK_EQ(a.len, 5);
  int v[8];
  REQUIRE_EQ(values(&a, v, 8), 5);
  for (int i = 0; i < 5; i++) CHECK_EQ(v[i], i);
  CHECK(a.tail == &it[4].node);
  /* Into an empty queue, and from one. */
  struct sq c = {0};
  sq_concat(&c, &a);
  CHECK_EQ(c.len, 5);
  CHECK(c.head == &it[0].node);
  sq_concat(&c, &a);
  CHECK_EQ(c.len, 5);
}

/* sq_remove finds the node anywhere; one not on the queue leaves it as
 * it was. */
TEST(remove_anywhere_and_absent) {
  struct sq q = {0};
  struct item it[4], other = {9, {0}};
  for (int i = 0; i < 4; i++) {
    it[i].v = i;
    sq_push(&q, &it[i].node);
  }
  CHECK(!sq_remove(&q, &other.node));
  CHECK_EQ(q.len, 4);
  CHECK(sq_remove(&q, &it[3].node)); /* the tail */
  CHECK(q.tail == &it[2].node);
  CHECK(it[3].node.next == NULL);
  CHECK(sq_remove(&q, &it[1].node)); /* the middle */
  CHECK(sq_remove(&q, &it[0].node)); /* the head */
  CHECK(!sq_remove(&q, &it[0].node)); /* not twice */
  CHECK_EQ(q.len, 1);
  CHECK(q.head == &it[2].node && q.tail == &it[2].node);
  CHECK(sq_remove(&q, &it[2].node));
  CHECK(sq_empty(&q));
  CHECK(q.tail == NULL);
  CHECK_EQ(q.len, 0);
  CHECK(!sq_remove(&q, &it[2].node));
}

/* SQ_NEXT walks the elements, const ones too, and ends with NULL. */
TEST(next_walks_in_order) {
  struct sq q = {0};
  struct item it[3];
  for (int i = 0; i < 3; i++) {
    it[i].v = 10 + i;
    sq_push(&q, &it[i].node);
  }
  int n = 0;
  for (const struct item *x = SQ_FIRST(&q, const struct item, node); x;
       x = SQ_NEXT(x, const struct item, node))
    CHECK_EQ(x->v, 10 + n++);
  CHECK_EQ(n, 3);
  CHECK(SQ_NEXT(&it[2], struct item, node) == NULL);
}

/* sq_init empties a queue in use: its nodes are forgotten, not touched. */
TEST(init_empties) {
  struct sq q;
  sq_init(&q);
  CHECK(sq_empty(&q));
  CHECK_EQ(q.len, 0);
  CHECK(sq_pop(&q) == NULL);
  struct item it[2] = {{1, {0}}, {2, {0}}};
  sq_push(&q, &it[0].node);
  sq_push(&q, &it[1].node);
  sq_init(&q);
  CHECK(sq_empty(&q));
  CHECK(q.tail == NULL);
  CHECK_EQ(q.len, 0);
  sq_push(&q, &it[1].node);
  CHECK_EQ(q.len, 1);
  CHECK(SQ_FIRST(&q, struct item, node) == &it[1]);
}

TEST_MAIN()
