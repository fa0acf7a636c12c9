// Words of a line as Ansible reads them with Python's shlex: INI host lines, and the ssh arguments in
// ansible_ssh_common_args and its kin.

/**
 * Splits a host line into words the way Python's shlex (posix, with comments) does for Ansible:
 * whitespace separates, '...' is literal, "..." allows \" \\ \$ \`, a backslash escapes one
 * character, and # outside quotes ends the line. Returns undefined for an unterminated quote.
 */
export function splitWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '#') break;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && '"\\$`'.includes(line[j + 1] ?? '')) j++;
        word += line[j];
      }
      if (j >= line.length) return undefined;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}
