<?php
// A client written from the API document, in its style, with one cookie-keeping curl handle:
// every account call, with values that make each succeed. The recovery code is read from
// the portal's outbox (argv[2]) the way a user would read it from the mail.
// Prints one line per answer: "BR-RESULT {json}". Usage: php flow.php URL OUTBOX EMAIL
$url = $argv[1];
$outbox = $argv[2];
$email = $argv[3];
$subemail = 'sub.' . $email;

$ch=curl_init();
curl_setopt_array($ch, array(
    CURLOPT_COOKIEFILE => '',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_URL => $url,
    CURLOPT_POST => true,
));

function call($ch, $name, $fields) {
    curl_setopt_array($ch, array(CURLOPT_POSTFIELDS => array_merge(array('apiCALL' => $name), $fields)));
    $r=curl_exec($ch);
    if($r === false)die('error!');
    $doc = new DOMDocument();
    if (!$doc->loadXML($r)) { fwrite(STDERR, "answer is not XML: $r\n"); exit(2); }
    $status = $doc->getElementsByTagName('status')->item(0);
    $error = $doc->getElementsByTagName('error')->item(0);
    echo "BR-RESULT ", json_encode(array(
        'example' => $name,
        'root' => $doc->documentElement->tagName,
        'status' => $status->getAttribute('value'),
        'error' => $error ? $error->getAttribute('code') : null,
        'xml' => $r,
    )), "\n";
    return $doc;
}

call($ch, 'registerNewUser', array('name' => 'John Doe', 'email' => $email, 'password' => 'userpassword'));
$doc = call($ch, 'login', array('email' => $email, 'password' => 'userpassword'));
$doc = call($ch, 'addContact', array('email' => $subemail, 'name' => 'John Doe', 'password' => 'password',
    'role' => '4', 'telephone' => '55555555', 'FixedPhone' => '021', 'Mobile2' => '0722'));
$contact = $doc->getElementsByTagName('contact')->item(0)->getAttribute('id');
call($ch, 'updateContactData', array('contact_id' => $contact, 'telephone' => '55555555', 'password' => 'password2'));
call($ch, 'removeContact', array('contact_id' => $contact));
call($ch, 'updateUserData', array('name' => 'John Doe', 'email' => $email, 'fixed-phone' => '55555555',
    'mobile' => '0733', 'mobile2' => '0744', 'notify' => '1', 'notify_email' => $email));
call($ch, 'recoverPassword', array('email' => $email));
$code = null;
for ($i = 0; $i < 200 && $code === null; $i++) {
    clearstatcache();
    foreach ((is_dir($outbox) ? scandir($outbox) : array()) as $name) {
        if (substr($name, -4) !== '.eml') continue;
        $mail = file_get_contents($outbox . '/' . $name);
        if (stripos($mail, 'Content-Transfer-Encoding: quoted-printable') !== false) {
            $mail = quoted_printable_decode($mail);  // only then: "code=66..." is not QP
        }
        if (stripos($mail, 'To: ' . $email) !== false &&
                preg_match('/recoverycode=([A-Za-z0-9_-]+)/', $mail, $m)) {
            $code = $m[1];
        }
    }
    if ($code === null) usleep(50000);
}
if ($code === null) {
    echo "BR-DEBUG no recovery mail for $email in $outbox: ",
        json_encode(is_dir($outbox) ? scandir($outbox) : 'no such folder'), "\n";
}
call($ch, 'resetPassword', array('recoverycode' => $code, 'password' => 'newpassword', 'remember' => '1'));
call($ch, 'updateUserData', array('name' => 'Still Logged In'));
call($ch, 'logout', array());
call($ch, 'updateUserData', array('name' => 'Logged Out'));
