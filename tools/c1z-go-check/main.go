// c1z-go-check reads a c1z file the way baton-sdk's Go code does: the C1ZF magic, then the
// rest through klauspost/compress's streaming zstd decoder into a temporary SQLite file, which
// it opens with mattn/go-sqlite3 and checks. It prints the row counts of the newest finished
// full sync and exits non-zero on any failure.
//
// Build without modules, against Debian's Go packages (see README.md, "Checking a c1z from Go").
package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: c1z-go-check FILE.c1z")
		os.Exit(2)
	}
	if err := check(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "c1z-go-check:", err)
		os.Exit(1)
	}
}

func check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 5)
	if _, err := io.ReadFull(f, magic); err != nil {
		return fmt.Errorf("reading the magic: %w", err)
	}
	if !bytes.Equal(magic, []byte("C1ZF\x00")) {
		return fmt.Errorf("bad magic %q", magic)
	}
	dec, err := zstd.NewReader(f)
	if err != nil {
		return fmt.Errorf("starting the zstd decoder: %w", err)
	}
	defer dec.Close()
	dir, err := os.MkdirTemp("", "c1z-go-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "sync.db")
	out, err := os.Create(dbPath)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, dec)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("pragma integrity_check").Scan(&integrity); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if integrity != "ok" {
		return fmt.Errorf("integrity check: %s", integrity)
	}
	var syncID string
	err = db.QueryRow("select sync_id from v1_sync_runs where ended_at is not null and sync_type = 'full' " +
		"order by ended_at desc limit 1").Scan(&syncID)
	if err != nil {
		return fmt.Errorf("finding the newest finished full sync: %w", err)
	}
	fmt.Printf("%s: %d bytes of SQLite, integrity ok, newest full sync %s\n", path, n, syncID)
	for _, table := range []string{"v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants"} {
		var rows, empty int
		q := fmt.Sprintf("select count(*), coalesce(sum(length(data) = 0), 0) from %s where sync_id = ?", table)
		if err := db.QueryRow(q, syncID).Scan(&rows, &empty); err != nil {
			return fmt.Errorf("counting %s: %w", table, err)
		}
		if empty > 0 {
			return fmt.Errorf("%s: %d rows with empty data", table, empty)
		}
		fmt.Printf("  %-18s %d rows\n", table, rows)
	}
	return nil
}
