//! Who wrote a commit, as git reads it: the author key every signal tells authors apart by,
//! through the `.mailmap`, for authors git makes and for those old imports and other tools left.

use git2::{Commit, Repository};

use riskgate::mining::identity::Identities;

use crate::support::commit_with_author;

/// `f` of a commit whose author line is `author` (name, e-mail, time), written as it stands
/// (git would refuse to make some of these), in the encoding the commit declares.
fn of_commit_in<T>(author: &[u8], encoding: Option<&str>, f: impl FnOnce(&Commit<'_>) -> T) -> T {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    let id = commit_with_author(&repo, author, encoding);
    let commit = repo.find_commit(id).unwrap();
    f(&commit)
}

fn of_commit<T>(author: &str, f: impl FnOnce(&Commit<'_>) -> T) -> T {
    of_commit_in(author.as_bytes(), None, f)
}

fn key_of(ids: &Identities, author: &str) -> String {
    of_commit(author, |commit| ids.author(commit).key)
}

#[test]
fn a_mailmap_makes_several_addresses_one_author() {
    let ids = Identities::from_mailmap(
        b"Nicholas <nicm@example.org> <nicm@old.example.net>\n<nicm@example.org> Nick <NICM@laptop>\n",
    );
    let key = |name: &str, mail: &str| key_of(&ids, &format!("{name} <{mail}> 0 +0000"));
    assert_eq!(key("N", "nicm@old.example.net"), "nicm@example.org");
    assert_eq!(key("Nick", "nicm@laptop"), "nicm@example.org");
    assert_eq!(
        key("NICK", "Nicm@Laptop"),
        "nicm@example.org",
        "as git, case aside"
    );
    assert_eq!(
        key("Other", "nicm@laptop"),
        "nicm@laptop",
        "name and e-mail must match"
    );
    assert_eq!(key("Bob", "Bob@Example.com"), "bob@example.com");
    let none = Identities::default();
    assert_eq!(
        key_of(&none, "N <nicm@old.example.net> 0 +0000"),
        "nicm@old.example.net"
    );
    assert!(none.fingerprint().is_empty());
    assert_ne!(
        ids.fingerprint(),
        Identities::from_mailmap(b"").fingerprint()
    );
}

/// As `git check-mailmap` has them: an entry for commits without an e-mail (old imports
/// have them) maps them by name, and a line git cannot read leaves the others in force.
/// libgit2 refused the whole file for either.
#[test]
fn a_mailmap_maps_authors_without_e_mail_and_keeps_going_past_a_bad_line() {
    let ids = Identities::from_mailmap(
        b"Fernando <fernando@example.org> fptest <>\nnot an entry\n<> <>\n\0\n\
          Nicholas <nicm@example.org> <nicm@old.example.net>\n",
    );
    assert_eq!(key_of(&ids, "fptest <> 0 +0000"), "fernando@example.org");
    assert_eq!(key_of(&ids, "FPTest <> 0 +0000"), "fernando@example.org");
    assert_eq!(key_of(&ids, "fperez <> 0 +0000"), "fperez", "another name");
    assert_eq!(
        key_of(&ids, "N <nicm@old.example.net> 0 +0000"),
        "nicm@example.org"
    );
    assert!(!ids.fingerprint().is_empty());
}

/// git reads the e-mail from the first `<` to the next `>`; libgit2 from the last `<`,
/// which made this author the same person as everyone who committed as `none@none`.
#[test]
fn a_malformed_author_is_read_as_git_reads_it() {
    let ids = Identities::default();
    assert_eq!(
        key_of(
            &ids,
            "Ping Yin <ping@example.org <none@none> 1278692065 -0300"
        ),
        "ping@example.org <none@none"
    );
    assert_eq!(
        key_of(&ids, "molveyra <none@none> 1280326602 -0300"),
        "none@none"
    );
    assert_eq!(key_of(&ids, "  Spaced  <> 0 +0000"), "Spaced");
    let spaced = Identities::from_mailmap(b"Spaced <spaced@example.org> Spaced <>\n");
    assert_eq!(
        key_of(&spaced, "Spaced   <> 0 +0000"),
        "spaced@example.org",
        "the spaces before `<` left out, as git matches the name"
    );
    assert_eq!(
        key_of(&spaced, "  Spaced <> 0 +0000"),
        "Spaced",
        "and only those: git does not map this one"
    );
    assert_eq!(
        of_commit("Ping Yin <ping@example.org <none@none> 0 +0000", |c| ids
            .author(c)
            .name),
        "Ping Yin"
    );
}

/// git reads a commit that declares another encoding in UTF-8, and maps its author by the
/// name so read; so does riskgate. A commit that declares none is taken as it stands.
#[test]
fn an_author_is_read_in_the_encoding_the_commit_declares() {
    let ids = Identities::from_mailmap(
        "J\u{f6}rgen <jorgen@example.org> J\u{f6}rgen <jorgen@old.example.net>\n".as_bytes(),
    );
    let latin1 = b"J\xf6rgen <jorgen@old.example.net> 0 +0000";
    for label in ["cp1252", "ISO-8859-1"] {
        assert_eq!(
            of_commit_in(latin1, Some(label), |c| ids.author(c).key),
            "jorgen@example.org",
            "{label}"
        );
        assert_eq!(
            of_commit_in(latin1, Some(label), |c| ids.author(c).name),
            "J\u{f6}rgen"
        );
    }
    assert_eq!(
        of_commit_in(latin1, None, |c| ids.author(c).key),
        "jorgen@old.example.net",
        "not the name the .mailmap gives"
    );
    assert_eq!(
        of_commit_in(latin1, Some("no-such-encoding"), |c| ids.author(c).key),
        "jorgen@old.example.net"
    );
}
