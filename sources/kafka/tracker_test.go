package kafka

import "testing"

func TestTrackerCommitsOnlyContiguousPrefix(t *testing.T) {
	tr := newTracker()
	var es []*entry
	for off := int64(10); off < 15; off++ {
		es = append(es, tr.add("t", 0, off))
	}
	other := tr.add("t", 1, 3)
	var commits []int64
	rec := func(k tp, off int64) {
		if k.partition == 0 {
			commits = append(commits, off)
		}
	}
	steps := []struct {
		ack  []*entry
		want []int64 // commits so far
	}{
		{[]*entry{es[1], es[2]}, nil},      // 10 still pending
		{[]*entry{other}, nil},             // another partition
		{[]*entry{es[0]}, []int64{12}},     // 10..12 done
		{[]*entry{es[4]}, []int64{12}},     // 13 pending
		{[]*entry{es[3]}, []int64{12, 14}}, // all done
	}
	for i, s := range steps {
		tr.ack(s.ack, rec)
		if len(commits) != len(s.want) {
			t.Fatalf("step %d: commits %v, want %v", i, commits, s.want)
		}
		for j := range commits {
			if commits[j] != s.want[j] {
				t.Fatalf("step %d: commits %v, want %v", i, commits, s.want)
			}
		}
	}
}

func TestTrackerIgnoresStaleEntriesAfterRefetch(t *testing.T) {
	tr := newTracker()
	old := tr.add("t", 0, 100)
	tr.add("t", 0, 101)
	// The partition is fetched again from 90 (a rebalance gave it back):
	// the old entries' messages will be delivered again.
	fresh := tr.add("t", 0, 90)
	var commits []int64
	tr.ack([]*entry{old}, func(_ tp, off int64) { commits = append(commits, off) })
	if len(commits) != 0 {
		t.Fatalf("stale ack committed %v", commits)
	}
	tr.ack([]*entry{fresh}, func(_ tp, off int64) { commits = append(commits, off) })
	if len(commits) != 1 || commits[0] != 90 {
		t.Fatalf("commits %v, want [90]", commits)
	}
}
