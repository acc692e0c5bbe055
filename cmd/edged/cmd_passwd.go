package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/edged/edged/internal/userfile"
)

func init() {
	register("passwd", "add a user to a users file (the embedded broker's or the page's), or change their password", passwdMain)
}

func passwdMain(args []string) int {
	return passwd(args, os.Stdin, os.Stderr)
}

// passwd is `edged passwd FILE USER`: the password is asked twice on a terminal, or read as
// the first line of standard input otherwise (for scripts). Exit status 2 for a usage error,
// 1 when the file cannot be written.
func passwd(args []string, stdin *os.File, stderr io.Writer) int {
	fs := newFlagSet("passwd", stderr, "usage: edged passwd FILE USER\n\n"+
		"Adds USER to the users file FILE (created, mode 0600, when missing) with a bcrypt hash of\n"+
		"their password, or replaces it. The password is asked on the terminal, or read as the first\n"+
		"line of standard input. FILE is then mqtt.server.users_file or http.users_file.\n")
	if err := fs.Parse(args); err != nil {
		return flagStatus(err)
	}
	if fs.NArg() != 2 {
		return missingArgs(fs, "give the users file and the user's name (%d arguments given, 2 wanted)", fs.NArg())
	}
	file, user := fs.Arg(0), fs.Arg(1)
	if err := userfile.CheckName(user); err != nil {
		fmt.Fprintf(stderr, "edged passwd: %v\n", err)
		return 2
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "edged passwd: %v\n", err)
		return 2
	}
	if err := userfile.SetPassword(file, user, password); err != nil {
		fmt.Fprintf(stderr, "edged passwd: %s: %v\n", file, err)
		return 1
	}
	fmt.Fprintf(stderr, "edged passwd: %s: password of %q set (restart edged to use it)\n", file, user)
	return 0
}

// readPassword asks twice without echo on a terminal; otherwise it reads one line.
func readPassword(stdin *os.File, stderr io.Writer) (string, error) {
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || line == "") {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		return string(b), err
	}
	first, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if first != again {
		return "", errors.New("the passwords differ")
	}
	return first, nil
}
