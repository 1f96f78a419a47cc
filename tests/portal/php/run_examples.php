<?php
// Runs the API document's PHP examples (the other .php files here, copied verbatim from the
// document but for "<!--?php" written "<?php") against a BackupRun portal. Changed at run
// time, and nothing else:
// - the URL: https://www.backuprun.com/api.php becomes argv[1];
// - one cookie-keeping curl handle for all examples: `$ch=curl_init();` returns it;
// - each answer is loaded with DOMDocument::loadXML; PHP 8 refuses the document's static call
//   `DOMDocument::loadXML($r)`, so that is made on an instance;
// - when the environment has BR_REPLACE (a JSON object), each of its keys in the code is
//   replaced by its value: a test gives the example's service ids ('662', 'V16428') the
//   ids of a service that exists.
// Prints one line per answer: "BR-RESULT {json}".
// Usage: php run_examples.php URL example.php [example.php...]

$br_url = $argv[1];
$br_handle = null;

function br_handle() {
    global $br_handle;
    if ($br_handle === null) {
        $br_handle = curl_init();
        curl_setopt($br_handle, CURLOPT_COOKIEFILE, '');
    }
    return $br_handle;
}

function br_load($r) {
    $doc = new DOMDocument();
    if (!$doc->loadXML($r)) {
        fwrite(STDERR, "answer is not XML: $r\n");
        exit(2);
    }
    return $doc;
}

function br_report($example, $r) {
    $doc = br_load($r);
    $root = $doc->documentElement;
    $status = null;
    foreach ($root->childNodes as $node) {
        if ($node->nodeType === XML_ELEMENT_NODE) { $status = $node; break; }
    }
    $error = $doc->getElementsByTagName('error')->item(0);
    echo "BR-RESULT ", json_encode(array(
        'example' => $example,
        'root' => $root->tagName,
        'first' => $status ? $status->tagName : null,
        'status' => $status ? $status->getAttribute('value') : null,
        'error' => $error ? $error->getAttribute('code') : null,
        'xml' => $r,
    )), "\n";
}

$br_replace = getenv('BR_REPLACE') ? json_decode(getenv('BR_REPLACE'), true) : array();

foreach (array_slice($argv, 2) as $br_file) {
    $br_name = basename($br_file, '.php');
    $br_code = strtr(file_get_contents($br_file), $br_replace);
    $br_code = str_replace('https://www.backuprun.com/api.php', $br_url, $br_code);
    $br_code = str_replace('$ch=curl_init();', '$ch=br_handle();', $br_code);
    $br_code = str_replace('DOMDocument::loadXML($r)', 'br_load($r)', $br_code);
    $br_code = str_replace("if(\$r === false)die('error!');",
        "if(\$r === false)die('error!');\nbr_report('$br_name', \$r);", $br_code);
    eval('?>' . $br_code);
}
