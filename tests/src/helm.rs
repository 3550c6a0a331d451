//! Renders the Helm chart in `package/helm/hangar` without helm, which the test machines do not
//! have: a renderer for the small subset of Go templates (with Helm's functions and data) the
//! chart is written in, so the tests can check what the chart produces and keep the plain
//! manifests in `package/kubernetes` equal to it.
//!
//! The subset, with Go's semantics:
//! - text, `{{/* comments */}}`, and the trim markers `{{- ` and ` -}}` (all white space,
//!   newlines included, before or after the action);
//! - data: `.` and `$` with field chains (`.Values.a.b`, `$.Release.Name`), range variables
//!   (`$i`), string literals with Go's escapes, integers, `true`, `false`;
//! - pipelines `a | f x`, parentheses `(int .Values.n)`;
//! - `if`/`else`/`end` (false, 0, "", empty lists and maps and null are false) and
//!   `range [$v :=] LIST` / `else` / `end`;
//! - the functions `quote`, `toYaml`, `indent`, `nindent`, `default`, `trim`, `int`, `until`.
//!
//! Anything else (`with`, `define`, `include`, `else if`, other functions, raw strings,
//! variable declarations) is an error, and so is reading a key that values.yaml does not have,
//! or printing a list, a map, or null: the chart cannot use something this renderer would
//! silently render differently from Helm. Numbers read from values are floats, as Helm reads
//! them (through JSON), so `until .Values.n` fails here as it does in Helm (`until (int ..)`
//! works), and a float Helm would print in exponent form (1e+06) is refused. `toYaml` sorts
//! keys as Helm's does; its scalars are quoted by serde_yaml's rules, which may pick another
//! quoting style than Helm for the same value.

use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::Path;

/// A chart on disk: its metadata, default values and templates.
pub struct Chart {
    /// Chart.yaml.
    pub metadata: Yaml,
    /// values.yaml.
    pub values: Yaml,
    /// (file name under templates/, text), sorted by name.
    templates: Vec<(String, String)>,
}

/// What Helm calls the release: the name and namespace a chart is installed as.
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
}

impl Chart {
    pub fn load(dir: &Path) -> Result<Chart, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let yaml = |path: &Path| -> Result<Yaml, String> {
            serde_yaml::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
        };
        let metadata = yaml(&dir.join("Chart.yaml"))?;
        let values = yaml(&dir.join("values.yaml"))?;
        let mut templates = Vec::new();
        let folder = dir.join("templates");
        let entries =
            std::fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // Partials (`_*`) only serve `define`, which this renderer lacks, and Helm would
            // treat other names differently than as manifests: both are refused, not guessed at.
            if name.starts_with('_') || !(name.ends_with(".yaml") || name == "NOTES.txt") {
                return Err(format!(
                    "{}: not a manifest template or NOTES.txt (partials and other files are unsupported)",
                    path.display()
                ));
            }
            templates.push((name, read(&path)?));
        }
        templates.sort();
        Ok(Chart {
            metadata,
            values,
            templates,
        })
    }

    /// Every template rendered with `values` (file name → text), as `helm template` would;
    /// templates that render to white space alone are left out, as Helm leaves them out.
    pub fn render(
        &self,
        values: &Yaml,
        release: &Release,
    ) -> Result<BTreeMap<String, String>, String> {
        let data = self.data(values, release)?;
        let mut out = BTreeMap::new();
        for (name, text) in &self.templates {
            let rendered = render(text, &data).map_err(|e| format!("templates/{name}:{e}"))?;
            if !rendered.trim().is_empty() {
                out.insert(name.clone(), rendered);
            }
        }
        Ok(out)
    }

    /// `.Values`, `.Release` and `.Chart` (Chart.yaml's keys capitalised, as Helm exposes them).
    fn data(&self, values: &Yaml, release: &Release) -> Result<Data, String> {
        let mut chart = BTreeMap::new();
        let Yaml::Mapping(metadata) = &self.metadata else {
            return Err("Chart.yaml is not a mapping".into());
        };
        for (key, value) in metadata {
            let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            let key = match key {
                "apiVersion" => "APIVersion".to_string(),
                _ => key[..1].to_uppercase() + &key[1..],
            };
            chart.insert(key, V::Str(value.to_string()));
        }
        let release = BTreeMap::from([
            ("Name".to_string(), V::Str(release.name.to_string())),
            (
                "Namespace".to_string(),
                V::Str(release.namespace.to_string()),
            ),
            ("Service".to_string(), V::Str("Helm".to_string())),
        ]);
        Ok(Data(V::Map(BTreeMap::from([
            ("Values".to_string(), V::from_yaml(values)?),
            ("Release".to_string(), V::Map(release)),
            ("Chart".to_string(), V::Map(chart)),
        ]))))
    }
}

/// Sets `path` (dot-separated, as `helm --set a.b=v`) in `values`. Every key on the way must
/// already be in values.yaml: a misspelt key would otherwise test nothing.
pub fn set(values: &mut Yaml, path: &str, value: impl Into<Yaml>) {
    let mut at = values;
    for key in path.split('.') {
        at = at
            .get_mut(key)
            .unwrap_or_else(|| panic!("values.yaml has no {path}"));
    }
    *at = value.into();
}

/// The data a template is rendered with (its `.` and `$`).
pub struct Data(V);

/// A value as Go templates see Helm's data.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Nil,
    Bool(bool),
    /// From integer literals and `int`/`until`.
    Int(i64),
    /// Every number read from values (Helm reads values through JSON: float64).
    Float(f64),
    Str(String),
    List(Vec<V>),
    Map(BTreeMap<String, V>),
}

impl V {
    fn from_yaml(value: &Yaml) -> Result<V, String> {
        Ok(match value {
            Yaml::Null => V::Nil,
            Yaml::Bool(b) => V::Bool(*b),
            Yaml::Number(n) => V::Float(n.as_f64().ok_or("number out of range")?),
            Yaml::String(s) => V::Str(s.clone()),
            Yaml::Sequence(items) => {
                V::List(items.iter().map(V::from_yaml).collect::<Result<_, _>>()?)
            }
            Yaml::Mapping(map) => {
                let mut out = BTreeMap::new();
                for (key, value) in map {
                    let key = key
                        .as_str()
                        .ok_or_else(|| format!("values: key {key:?} is not a string"))?;
                    out.insert(key.to_string(), V::from_yaml(value)?);
                }
                V::Map(out)
            }
            Yaml::Tagged(tagged) => return Err(format!("values: tag {} unsupported", tagged.tag)),
        })
    }

    fn to_yaml(&self) -> Yaml {
        match self {
            V::Nil => Yaml::Null,
            V::Bool(b) => Yaml::Bool(*b),
            V::Int(i) => Yaml::Number((*i).into()),
            V::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Yaml::Number((*f as i64).into()),
            V::Float(f) => Yaml::Number((*f).into()),
            V::Str(s) => Yaml::String(s.clone()),
            V::List(items) => Yaml::Sequence(items.iter().map(V::to_yaml).collect()),
            V::Map(map) => Yaml::Mapping(
                map.iter()
                    .map(|(k, v)| (Yaml::String(k.clone()), v.to_yaml()))
                    .collect(),
            ),
        }
    }

    /// Go templates' truth (and sprig's `empty`, negated).
    fn truthy(&self) -> bool {
        match self {
            V::Nil => false,
            V::Bool(b) => *b,
            V::Int(i) => *i != 0,
            V::Float(f) => *f != 0.0,
            V::Str(s) => !s.is_empty(),
            V::List(items) => !items.is_empty(),
            V::Map(map) => !map.is_empty(),
        }
    }

    /// The text `fmt.Sprint` gives a scalar.
    fn scalar_text(&self) -> Result<String, String> {
        match self {
            V::Bool(b) => Ok(b.to_string()),
            V::Int(i) => Ok(i.to_string()),
            // Go prints a float64 in exponent form from 1e+06 on; that and fractions are
            // refused rather than imitated, as the chart needs neither.
            V::Float(f) if f.fract() == 0.0 && f.abs() < 1e6 => Ok((*f as i64).to_string()),
            V::Float(f) => Err(format!(
                "{f}: Helm prints this number in Go's %v float form; quote it in values.yaml"
            )),
            V::Str(s) => Ok(s.clone()),
            V::Nil => Err("null has no text (Helm would print nothing)".into()),
            V::List(_) | V::Map(_) => Err("a list or map has no text; use toYaml".into()),
        }
    }
}

/// Renders one template.
pub fn render(template: &str, data: &Data) -> Result<String, String> {
    let pieces = split(template)?;
    let mut at = 0;
    let (nodes, end) = parse_nodes(&pieces, &mut at)?;
    if let Some((word, line)) = end {
        return Err(format!("{line}: {{{{ {word} }}}} without if or range"));
    }
    let mut scope = Scope {
        root: &data.0,
        dot: data.0.clone(),
        vars: Vec::new(),
    };
    let mut out = String::new();
    run(&nodes, &mut scope, &mut out)?;
    Ok(out)
}

enum Piece {
    Text(String),
    Action { body: String, line: usize },
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Text and actions, the trim markers applied and comments dropped.
fn split(src: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    let line_of = |rest: &str| src[..src.len() - rest.len()].matches('\n').count() + 1;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let line = line_of(&rest[open..]);
        let mut body = &rest[open + 2..];
        if let Some(after) = body.strip_prefix('-') {
            if !after.starts_with(is_space) {
                return Err(format!("{line}: \"{{{{-\" must be followed by a space"));
            }
            text = text.trim_end_matches(is_space);
            body = &after[1..];
        }
        pieces.push(Piece::Text(text.to_string()));
        let (inside, after) = if body.starts_with("/*") {
            let close = body
                .find("*/")
                .ok_or_else(|| format!("{line}: unclosed comment"))?;
            let after = &body[close + 2..];
            if !(after.starts_with("}}") || after.starts_with(" -}}")) {
                return Err(format!("{line}: a comment must end at \"}}}}\""));
            }
            (None, after)
        } else {
            let close = action_end(body).ok_or_else(|| format!("{line}: unclosed action"))?;
            (Some(&body[..close]), &body[close..])
        };
        let mut inside = inside;
        // The right trim marker is white space, '-', then the delimiter.
        let closes_trimmed = match inside {
            Some(text) => {
                let trimmed = text.strip_suffix('-').filter(|t| t.ends_with(is_space));
                if let Some(t) = trimmed {
                    inside = Some(t);
                }
                trimmed.is_some()
            }
            None => after.starts_with(" -}}"),
        };
        trim_next = closes_trimmed;
        let after = after.trim_start_matches(" -").strip_prefix("}}").unwrap();
        if let Some(body) = inside {
            pieces.push(Piece::Action {
                body: body.to_string(),
                line,
            });
        }
        rest = after;
    }
    let text = if trim_next {
        rest.trim_start_matches(is_space)
    } else {
        rest
    };
    pieces.push(Piece::Text(text.to_string()));
    Ok(pieces)
}

/// Where an action's `}}` is, string literals skipped.
fn action_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'}' if bytes[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// `.a.b` (`.` alone: no keys).
    Dot(Vec<String>),
    /// `$.a.b` (`$` alone: no keys).
    Root(Vec<String>),
    /// `$name.a.b`.
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Word(String),
    Pipe,
    Open,
    Close,
    Declare,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn tokens(body: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && is_ident(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    let fields = |i: &mut usize| -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        while *i < chars.len() && chars[*i] == '.' {
            *i += 1;
            let key = ident(i);
            if key.is_empty() {
                if keys.is_empty() && (*i == chars.len() || !is_ident(chars[*i])) {
                    // `.` alone.
                    return Ok(keys);
                }
                return Err(format!("bad field chain in {body:?}"));
            }
            keys.push(key);
        }
        Ok(keys)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if is_space(c) => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
                if i < chars.len() && chars[i] == '.' {
                    return Err("fields of a parenthesised value are unsupported".into());
                }
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '.' => out.push(Tok::Dot(fields(&mut i)?)),
            '$' => {
                i += 1;
                let name = ident(&mut i);
                let keys = fields(&mut i)?;
                out.push(if name.is_empty() {
                    Tok::Root(keys)
                } else {
                    Tok::Var(name, keys)
                });
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let c = *chars.get(i).ok_or("unterminated string")?;
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = *chars.get(i).ok_or("unterminated string")?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                _ => return Err(format!("string escape \\{e} unsupported")),
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                if i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                    return Err(format!("number in {body:?} unsupported"));
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Tok::Int(
                    text.parse().map_err(|_| format!("{text}: bad integer"))?,
                ));
            }
            c if c.is_ascii_alphabetic() => {
                let word = ident(&mut i);
                if i < chars.len() && chars[i] == '.' {
                    return Err(format!("{word}.…: unsupported"));
                }
                out.push(Tok::Word(word));
            }
            c => return Err(format!("{c:?} in {body:?} unsupported")),
        }
    }
    Ok(out)
}

#[derive(Debug)]
enum Operand {
    Dot(Vec<String>),
    Root(Vec<String>),
    Var(String, Vec<String>),
    Lit(V),
    Sub(Pipeline),
}

#[derive(Debug)]
enum Command {
    Operand(Operand),
    Call(String, Vec<Operand>),
}

#[derive(Debug)]
struct Pipeline(Vec<Command>);

enum Node {
    Text(String),
    Print(Pipeline, usize),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
        line: usize,
    },
    Range {
        var: Option<String>,
        over: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
        line: usize,
    },
}

const FUNCTIONS: &[&str] = &[
    "quote", "toYaml", "indent", "nindent", "default", "trim", "int", "until",
];

/// What ended a list of nodes: `else` or `end`, and its line.
type Closer = (&'static str, usize);

/// Nodes up to an `else` or `end` (returned with its line) or the end of the template.
fn parse_nodes(pieces: &[Piece], at: &mut usize) -> Result<(Vec<Node>, Option<Closer>), String> {
    let mut nodes = Vec::new();
    while *at < pieces.len() {
        let piece = &pieces[*at];
        *at += 1;
        let (body, line) = match piece {
            Piece::Text(text) => {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.clone()));
                }
                continue;
            }
            Piece::Action { body, line } => (body, *line),
        };
        let at_line = |e: String| format!("{line}: {e}");
        let toks = tokens(body).map_err(at_line)?;
        match toks.first() {
            Some(Tok::Word(w)) if w == "end" || w == "else" => {
                if toks.len() > 1 {
                    return Err(at_line(format!("{{{{ {} }}}} unsupported", body.trim())));
                }
                let word = if w == "end" { "end" } else { "else" };
                return Ok((nodes, Some((word, line))));
            }
            Some(Tok::Word(w)) if w == "if" || w == "range" => {
                let is_if = w == "if";
                let mut rest = &toks[1..];
                let mut var = None;
                if !is_if
                    && let [Tok::Var(name, keys), Tok::Declare, tail @ ..] = rest
                    && keys.is_empty()
                {
                    var = Some(name.clone());
                    rest = tail;
                }
                let pipeline = parse_pipeline(rest).map_err(at_line)?;
                let (body, end) = parse_nodes(pieces, at)?;
                let otherwise = match end {
                    Some(("else", _)) => match parse_nodes(pieces, at)? {
                        (nodes, Some(("end", _))) => nodes,
                        _ => return Err(at_line(format!("{w} without end"))),
                    },
                    Some(("end", _)) => Vec::new(),
                    _ => return Err(at_line(format!("{w} without end"))),
                };
                nodes.push(if is_if {
                    Node::If {
                        cond: pipeline,
                        then: body,
                        otherwise,
                        line,
                    }
                } else {
                    Node::Range {
                        var,
                        over: pipeline,
                        body,
                        otherwise,
                        line,
                    }
                });
            }
            Some(Tok::Word(w)) if !FUNCTIONS.contains(&w.as_str()) && !is_literal(w) => {
                return Err(at_line(format!("{w:?} is unsupported")));
            }
            Some(Tok::Var(..)) if toks.get(1) == Some(&Tok::Declare) => {
                return Err(at_line("variable declarations are unsupported".into()));
            }
            _ => nodes.push(Node::Print(parse_pipeline(&toks).map_err(at_line)?, line)),
        }
    }
    Ok((nodes, None))
}

fn is_literal(word: &str) -> bool {
    matches!(word, "true" | "false")
}

fn parse_pipeline(toks: &[Tok]) -> Result<Pipeline, String> {
    let mut commands = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => depth = depth.checked_sub(1).ok_or("unbalanced ')'")?,
            Tok::Pipe if depth == 0 => {
                commands.push(parse_command(&toks[start..i])?);
                start = i + 1;
            }
            Tok::Declare => return Err("variable declarations are unsupported".into()),
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    commands.push(parse_command(&toks[start..])?);
    Ok(Pipeline(commands))
}

fn parse_command(toks: &[Tok]) -> Result<Command, String> {
    let mut operands = Vec::new();
    let mut i = 0;
    let mut call = None;
    while i < toks.len() {
        let operand = match &toks[i] {
            Tok::Word(w) if is_literal(w) => Operand::Lit(V::Bool(w == "true")),
            Tok::Word(w) if i == 0 => {
                if !FUNCTIONS.contains(&w.as_str()) {
                    return Err(format!("function {w:?} is unsupported"));
                }
                call = Some(w.clone());
                i += 1;
                continue;
            }
            Tok::Word(w) => return Err(format!("{w:?} can only start a command")),
            Tok::Dot(keys) => Operand::Dot(keys.clone()),
            Tok::Root(keys) => Operand::Root(keys.clone()),
            Tok::Var(name, keys) => Operand::Var(name.clone(), keys.clone()),
            Tok::Str(s) => Operand::Lit(V::Str(s.clone())),
            Tok::Int(n) => Operand::Lit(V::Int(*n)),
            Tok::Open => {
                let mut depth = 0;
                let mut close = i;
                for (j, tok) in toks.iter().enumerate().skip(i) {
                    match tok {
                        Tok::Open => depth += 1,
                        Tok::Close => {
                            depth -= 1;
                            if depth == 0 {
                                close = j;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let inner = parse_pipeline(&toks[i + 1..close])?;
                i = close;
                Operand::Sub(inner)
            }
            Tok::Close | Tok::Pipe | Tok::Declare => return Err("misplaced token".into()),
        };
        operands.push(operand);
        i += 1;
    }
    match call {
        Some(name) => Ok(Command::Call(name, operands)),
        None if operands.len() == 1 => Ok(Command::Operand(operands.pop().unwrap())),
        None if operands.is_empty() => Err("empty command".into()),
        None => Err("only a function takes arguments".into()),
    }
}

struct Scope<'a> {
    root: &'a V,
    dot: V,
    vars: Vec<(String, V)>,
}

fn lookup(mut value: &V, keys: &[String], shown: &str) -> Result<V, String> {
    for key in keys {
        value = match value {
            V::Map(map) => map
                .get(key)
                .ok_or_else(|| format!("{shown}: no key {key:?} (values.yaml must have it)"))?,
            _ => return Err(format!("{shown}: {key:?} of something that is not a map")),
        };
    }
    Ok(value.clone())
}

fn shown(base: &str, keys: &[String]) -> String {
    let mut s = base.to_string();
    for key in keys {
        s.push('.');
        s.push_str(key);
    }
    if s.is_empty() { ".".into() } else { s }
}

fn eval_operand(operand: &Operand, scope: &Scope) -> Result<V, String> {
    match operand {
        Operand::Dot(keys) => lookup(&scope.dot, keys, &shown("", keys)),
        Operand::Root(keys) => lookup(scope.root, keys, &shown("$", keys)),
        Operand::Var(name, keys) => {
            let value = scope
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("undefined variable ${name}"))?;
            lookup(value, keys, &shown(&format!("${name}"), keys))
        }
        Operand::Lit(value) => Ok(value.clone()),
        Operand::Sub(pipeline) => eval(pipeline, scope),
    }
}

fn eval(pipeline: &Pipeline, scope: &Scope) -> Result<V, String> {
    let mut last: Option<V> = None;
    for command in &pipeline.0 {
        last = Some(match command {
            Command::Operand(operand) => {
                if last.is_some() {
                    return Err("a pipeline stage must be a function".into());
                }
                eval_operand(operand, scope)?
            }
            Command::Call(name, operands) => {
                let mut args = operands
                    .iter()
                    .map(|o| eval_operand(o, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(last.take());
                call(name, args)?
            }
        });
    }
    Ok(last.expect("a pipeline has a command"))
}

fn call(name: &str, args: Vec<V>) -> Result<V, String> {
    let arity = match name {
        "indent" | "nindent" | "default" => 2,
        _ => 1,
    };
    if args.len() != arity {
        return Err(format!(
            "{name} takes {arity} arguments, given {}",
            args.len()
        ));
    }
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap();
    Ok(match name {
        "quote" => V::Str(go_quote(&next().scalar_text()?)),
        "toYaml" => {
            let text = serde_yaml::to_string(&next().to_yaml()).map_err(|e| e.to_string())?;
            V::Str(text.strip_suffix('\n').unwrap_or(&text).to_string())
        }
        "indent" | "nindent" => {
            let V::Int(width) = next() else {
                return Err(format!("{name}: the width must be an integer"));
            };
            let V::Str(text) = next() else {
                return Err(format!("{name}: not a string"));
            };
            let pad = " ".repeat(width.max(0) as usize);
            let indented = format!("{pad}{}", text.replace('\n', &format!("\n{pad}")));
            V::Str(if name == "nindent" {
                format!("\n{indented}")
            } else {
                indented
            })
        }
        "default" => {
            let fallback = next();
            let given = next();
            if given.truthy() { given } else { fallback }
        }
        "trim" => match next() {
            V::Str(s) => V::Str(s.trim().to_string()),
            _ => return Err("trim: not a string".into()),
        },
        "int" => V::Int(match next() {
            V::Int(i) => i,
            V::Float(f) => f as i64,
            V::Str(s) => s.trim().parse().map_err(|_| format!("int: {s:?}"))?,
            V::Bool(b) => b as i64,
            V::Nil => 0,
            _ => return Err("int: not a scalar".into()),
        }),
        "until" => match next() {
            V::Int(n) => V::List((0..n.max(0)).map(V::Int).collect()),
            // Go refuses a float64 for until's int parameter.
            other => return Err(format!("until needs an int (use `int`), given {other:?}")),
        },
        _ => unreachable!("{name} is in FUNCTIONS"),
    })
}

/// Go's `strconv.Quote`, which sprig's `quote` applies.
fn go_quote(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() && (c as u32) <= 0xffff => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn run(nodes: &[Node], scope: &mut Scope, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(pipeline, line) => {
                let value = eval(pipeline, scope).map_err(|e| format!("{line}: {e}"))?;
                out.push_str(&value.scalar_text().map_err(|e| format!("{line}: {e}"))?);
            }
            Node::If {
                cond,
                then,
                otherwise,
                line,
            } => {
                let value = eval(cond, scope).map_err(|e| format!("{line}: {e}"))?;
                run(if value.truthy() { then } else { otherwise }, scope, out)?;
            }
            Node::Range {
                var,
                over,
                body,
                otherwise,
                line,
            } => {
                let V::List(items) = eval(over, scope).map_err(|e| format!("{line}: {e}"))? else {
                    return Err(format!("{line}: range over something other than a list"));
                };
                if items.is_empty() {
                    run(otherwise, scope, out)?;
                }
                for item in items {
                    let dot = std::mem::replace(&mut scope.dot, item.clone());
                    if let Some(name) = var {
                        scope.vars.push((name.clone(), item));
                    }
                    let result = run(body, scope, out);
                    if var.is_some() {
                        scope.vars.pop();
                    }
                    scope.dot = dot;
                    result?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(values: &str) -> Data {
        let values: Yaml = serde_yaml::from_str(values).unwrap();
        Data(V::Map(BTreeMap::from([
            ("Values".to_string(), V::from_yaml(&values).unwrap()),
            (
                "Release".to_string(),
                V::Map(BTreeMap::from([("Name".to_string(), V::Str("r".into()))])),
            ),
        ])))
    }

    fn ok(template: &str, values: &str) -> String {
        render(template, &data(values)).unwrap_or_else(|e| panic!("{template:?}: {e}"))
    }

    fn err(template: &str, values: &str) -> String {
        match render(template, &data(values)) {
            Ok(out) => panic!("{template:?} rendered {out:?}, expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn trim_markers_take_every_white_space_on_their_side() {
        assert_eq!(ok("a \n\t {{- .Values.x }} \n b", "x: 1"), "a1 \n b");
        assert_eq!(ok("a \n {{ .Values.x -}} \n\n b", "x: 1"), "a \n 1b");
        assert_eq!(ok("a\n  {{- .Values.x -}}\n  b", "x: 1"), "a1b");
        assert_eq!(ok("{{ .Release.Name }}-x", ""), "r-x");
        // Go reads "{{-3" as a number, not a trim marker: unsupported here.
        assert!(err("a {{-3}}", "").contains("followed by a space"));
    }

    #[test]
    fn comments_render_nothing_and_trim_like_actions() {
        assert_eq!(ok("a{{/* one\ntwo */}}b", ""), "ab");
        assert_eq!(ok("a\n  {{- /* c */ -}}\n  b", ""), "ab");
        assert!(err("a{{/* c */ }}b", "").contains("comment"));
        assert!(err("a{{/* c", "").contains("unclosed comment"));
    }

    #[test]
    fn if_takes_go_template_truth_and_nests() {
        let values = "t: true\nf: false\nzero: 0\nn: 3\nempty: ''\ns: x\nnone: []\nsome: [1]\nnomap: {}\nnothing: ~";
        for (key, truth) in [
            ("t", true),
            ("f", false),
            ("zero", false),
            ("n", true),
            ("empty", false),
            ("s", true),
            ("none", false),
            ("some", true),
            ("nomap", false),
            ("nothing", false),
        ] {
            let template = format!("{{{{ if .Values.{key} }}}}yes{{{{ else }}}}no{{{{ end }}}}");
            assert_eq!(
                ok(&template, values),
                if truth { "yes" } else { "no" },
                "{key}"
            );
        }
        let nested =
            "a\n{{- if .Values.t }}\nb\n{{- if .Values.f }}\nc\n{{- end }}\nd\n{{- end }}\ne\n";
        assert_eq!(ok(nested, values), "a\nb\nd\ne\n");
        let outer_false =
            "{{- if .Values.f }}\nb\n{{- if .Values.t }}\nc\n{{- end }}\n{{- end }}\ne";
        assert_eq!(ok(outer_false, values), "\ne");
        assert!(err("{{ if .Values.t }}x", values).contains("without end"));
        assert!(err("x{{ end }}", values).contains("without if or range"));
        assert!(
            err("{{ if .Values.t }}{{ else if .Values.f }}{{ end }}", values)
                .contains("unsupported")
        );
    }

    #[test]
    fn quote_is_go_quoting_of_the_printed_value() {
        assert_eq!(
            ok("{{ .Values.s | quote }}", r#"s: "a\"b\\c\nd""#),
            r#""a\"b\\c\nd""#
        );
        assert_eq!(ok("{{ quote .Values.n }}", "n: 4"), "\"4\"");
        assert_eq!(ok("{{ .Values.b | quote }}", "b: false"), "\"false\"");
        assert!(err("{{ .Values.m | quote }}", "m: {a: 1}").contains("toYaml"));
    }

    #[test]
    fn to_yaml_sorts_keys_and_nindent_pads_every_line() {
        let values =
            "r:\n  limits: {memory: 512Mi}\n  requests: {memory: 64Mi, cpu: 100m}\nl: [ALL, x]";
        assert_eq!(
            ok(
                "a:\n  b:\n    {{- toYaml .Values.r | nindent 4 }}\n",
                values
            ),
            "a:\n  b:\n    limits:\n      memory: 512Mi\n    requests:\n      cpu: 100m\n      memory: 64Mi\n"
        );
        assert_eq!(
            ok("d: {{- toYaml .Values.l | nindent 2 }}", values),
            "d:\n  - ALL\n  - x"
        );
        assert_eq!(
            ok("{{ .Values.s | trim | indent 2 }}", "s: |\n  a\n  b\n"),
            "  a\n  b"
        );
        assert_eq!(ok("{{ toYaml .Values.n }}", "n: 3"), "3");
    }

    #[test]
    fn range_over_until_binds_dot_and_its_variable() {
        let values = "n: 3\np: part";
        assert_eq!(
            ok(
                "{{- range $i := until (int .Values.n) }} {{ $.Values.p }}-{{ $i }}{{ . }}{{- end }}",
                values
            ),
            " part-00 part-11 part-22"
        );
        assert_eq!(
            ok("{{ range until 0 }}x{{ else }}none{{ end }}", values),
            "none"
        );
        // Helm's values are floats: until refuses one without `int`, in Helm too.
        assert!(
            err("{{ range until .Values.n }}x{{ end }}", values).contains("until needs an int")
        );
        // Inside range `.` is the item, so `.Values` is gone, as in Go.
        assert!(err("{{ range until 1 }}{{ .Values.p }}{{ end }}", values).contains("not a map"));
        assert!(err("{{ $i }}", values).contains("undefined variable"));
    }

    #[test]
    fn default_replaces_empty_values_only() {
        assert_eq!(ok("{{ .Values.t | default \"d\" }}", "t: ''"), "d");
        assert_eq!(ok("{{ .Values.t | default \"d\" }}", "t: v"), "v");
        assert_eq!(ok("{{ .Values.t | default .Release.Name }}", "t: ~"), "r");
    }

    #[test]
    fn anything_outside_the_subset_is_an_error() {
        for template in [
            "{{ with .Values.a }}x{{ end }}",
            "{{ define \"x\" }}y{{ end }}",
            "{{ include \"x\" . }}",
            "{{ template \"x\" }}",
            "{{ .Values.a | upper }}",
            "{{ $x := 1 }}",
            "{{ `raw` }}",
            "{{ .Values.a 1 }}",
            "{{ (.Values).a }}",
        ] {
            err(template, "a: b");
        }
        assert!(err("{{ .Values.missing }}", "a: b").contains("no key \"missing\""));
        assert!(err("{{ if .Values.missing }}{{ end }}", "a: b").contains("no key"));
        assert!(err("{{ .Values.a }}", "a: ~").contains("null"));
        assert!(err("{{ .Values.a }}", "a: [1]").contains("toYaml"));
        assert!(err("{{ .Values.a }}", "a: 1000000").contains("float"));
        assert_eq!(ok("{{ .Values.a }}", "a: 999999"), "999999");
    }
}
